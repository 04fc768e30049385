"""CORS on FastAPIEndpoint: off unless ``cors_origins`` names origins; preflights and replies.

Requests are sent as a browser sends them (``Origin``, and for a preflight ``OPTIONS`` with
``Access-Control-Request-Method``) to a real endpoint; the assertions are on the headers a
browser reads to decide whether the page may see the response.
"""

from __future__ import annotations

from textwrap import dedent

import pytest

from autocoder.blueprint.loader import load_blueprint_text
from autocoder.errors import BlueprintError
from tests.http.support import Serve

pytestmark = pytest.mark.anyio

APP = "https://app.example.com"
PREFLIGHT = {
    "Origin": APP,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type, x-tenant-id",
}


def blueprint(extra: str = "") -> str:
    return f"""
system:
  name: cors_test
  components:
    - name: api
      type: FastAPIEndpoint
      config: {{port: 0, api_keys: [cors-key]{extra}}}
    - name: store
      type: Store
      config: {{storage_type: memory}}
  bindings:
    - {{from_component: api, to_component: store, stream_name: input}}
"""


KEY = {"Authorization": "Bearer cors-key"}


async def test_without_cors_origins_no_response_has_cors_headers(serve: Serve) -> None:
    async with serve(blueprint()) as r:
        preflight = await r.client.options("/tasks", headers=PREFLIGHT)
        simple = await r.client.get("/tasks", headers={"Origin": APP, **KEY})

    assert simple.status_code == 200
    for response in (preflight, simple):
        assert not [h for h in response.headers if h.startswith("access-control-")]


async def test_a_preflight_from_an_allowed_origin_is_answered_without_a_key(
    serve: Serve,
) -> None:
    async with serve(blueprint(f", cors_origins: ['{APP}']")) as r:
        response = await r.client.options("/tasks", headers=PREFLIGHT)

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert {"authorization", "content-type", "x-tenant-id"} <= {
        h.strip() for h in allowed.split(",")
    }
    assert "access-control-allow-credentials" not in response.headers


async def test_a_simple_request_from_an_allowed_origin_can_read_the_reply(serve: Serve) -> None:
    async with serve(blueprint(f", cors_origins: ['{APP}']")) as r:
        created = await r.client.post("/tasks", json={"t": 1}, headers={"Origin": APP, **KEY})
        refused = await r.client.get("/tasks", headers={"Origin": APP})

    assert created.status_code == 201
    assert created.headers["access-control-allow-origin"] == APP
    exposed = {
        h.strip().lower() for h in created.headers["access-control-expose-headers"].split(",")
    }
    assert {"x-request-id", "location", "etag", "retry-after"} <= exposed
    assert refused.status_code == 401  # the key is still needed; the page can read why
    assert refused.headers["access-control-allow-origin"] == APP


async def test_another_origin_gets_no_cors_headers(serve: Serve) -> None:
    other = {**PREFLIGHT, "Origin": "https://evil.example.net"}
    async with serve(blueprint(f", cors_origins: ['{APP}']")) as r:
        preflight = await r.client.options("/tasks", headers=other)
        simple = await r.client.get("/tasks", headers={"Origin": other["Origin"], **KEY})

    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers


async def test_a_star_allows_any_origin(serve: Serve) -> None:
    async with serve(blueprint(", cors_origins: ['*']")) as r:
        response = await r.client.get("/tasks", headers={"Origin": "http://localhost:3000", **KEY})

    assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("origin", ["https://app.example.com/", "app.example.com", "ftp://x"])
def test_an_origin_that_is_not_one_is_a_blueprint_error_at_its_node(origin: str) -> None:
    text = f"""\
        system:
          name: cors_bad
          components:
            - name: api
              type: FastAPIEndpoint
              config:
                cors_origins: [https://ok.example, {origin}]
        """
    with pytest.raises(BlueprintError) as info:
        load_blueprint_text(dedent(text), "bp.yaml", environ={})

    [problem] = info.value.problems
    assert (problem.line, problem.column) == (7, 44)  # the second origin, not the list
    assert "is not an origin" in problem.message

"""``/docs`` and ``/redoc`` work without internet access, and without an API key.

The pages are loaded in headless Chromium with every host but 127.0.0.1 unresolvable: with
their scripts on a CDN they would stay blank. The tests assert the operations the scripts
render from ``/openapi.json``.
"""

from __future__ import annotations

import re

import pytest
from structlog.testing import capture_logs

from tests.http.browser import rendered_dom
from tests.http.support import Running, Serve

pytestmark = pytest.mark.anyio

KEYED_BLUEPRINT = """
system:
  name: docs_test
  components:
    - name: api
      type: FastAPIEndpoint
      config: {port: 0, api_keys: [docs-test-key]}
    - name: store
      type: Store
      config: {storage_type: memory}
  bindings:
    - {from_component: api, to_component: store, stream_name: input}
"""

OPERATIONS = {"/tasks", "/tasks/{id}", "/actions/{stream_name}", "/health", "/ready"}


def url(r: Running, path: str) -> str:
    return f"{r.url_of('api')}{path}"


async def test_swagger_ui_renders_every_operation_offline_without_a_key(serve: Serve) -> None:
    async with serve(KEYED_BLUEPRINT) as r:
        dom = await rendered_dom(url(r, "/docs"))

    assert set(re.findall(r'data-path="([^"]+)"', dom)) == OPERATIONS
    assert "Create a tasks record" in dom


async def test_redoc_renders_every_operation_offline_without_a_key(serve: Serve) -> None:
    async with serve(KEYED_BLUEPRINT) as r:
        dom = await rendered_dom(url(r, "/redoc"))

    assert "Create a tasks record" in dom
    assert "Delete a tasks record" in dom
    for path in OPERATIONS:
        assert path in dom, path


async def test_the_pages_name_only_assets_the_endpoint_serves(serve: Serve) -> None:
    with capture_logs() as logs:
        async with serve(KEYED_BLUEPRINT) as r:
            pages = [(await r.client.get(page)).text for page in ("/docs", "/redoc")]
            assets = {
                src
                for page in pages
                for src in re.findall(r'(?:src|href)="([^"]+\.(?:js|css|png))"', page)
            }
            fetched = {src: await r.client.get(src) for src in assets}

    assert assets >= {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/redoc.standalone.js"}
    assert all(src.startswith("/docs/assets/") for src in assets)
    for src, response in fetched.items():
        assert response.status_code == 200, src  # no key needed
        assert len(response.content) > 1000, src
    assert "javascript" in fetched["/docs/assets/swagger-ui-bundle.js"].headers["content-type"]
    routes = {e["route"] for e in logs if e.get("event") == "request"}
    assert "/docs/assets" in routes and "unmatched" not in routes


async def test_the_oauth2_redirect_page_of_swagger_ui_is_served(serve: Serve) -> None:
    async with serve(KEYED_BLUEPRINT) as r:
        response = await r.client.get("/docs/oauth2-redirect")

    assert response.status_code == 200
    assert "oauth2" in response.text.lower()


async def test_other_paths_still_need_the_key(serve: Serve) -> None:
    async with serve(KEYED_BLUEPRINT) as r:
        assert (await r.client.get("/tasks")).status_code == 401
        assert (await r.client.get("/docsx")).status_code == 401
        assert (await r.client.get("/docs/assets")).status_code == 401

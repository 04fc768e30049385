"""The access log and the request id: one line per request, the id on every line made for it.

In-process tests read the events with structlog's ``capture_logs`` (with ``merge_contextvars``
in front, as ``configure_logging`` runs it); the last test reads the JSON log of a real
``autocoder run`` process at debug level for keys, ``Authorization`` values and record data.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from autocoder.blueprint.model import Binding
from autocoder.components.fastapi_endpoint import FastAPIEndpoint
from tests.http.fakes import StagedStore, schemaless
from tests.http.support import MEMORY_BLUEPRINT, Serve

pytestmark = pytest.mark.anyio

REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


def access_lines(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e.get("event") == "request"]


class LoggingStore(StagedStore):
    """A staged store that logs a line of its own for every message it processes."""

    async def process_item(self, item: Any) -> Any:
        if isinstance(item, dict) and item.get("action") != "describe":
            self.log.info("store_saw", action=item.get("action"))
        return await super().process_item(item)


def bound_to_store() -> list[Binding]:
    return [Binding(from_component="api", to_component="store", stream_name="input")]


async def test_each_request_is_one_info_line_with_route_status_duration_and_id(
    serve: Serve,
) -> None:
    with capture_logs() as logs:
        async with serve(MEMORY_BLUEPRINT) as r:
            missing = await r.client.get("/tasks/7", headers={"X-Request-ID": "trace-7"})
            created = await r.client.post("/tasks", json={"title": "x"})

    lines = access_lines(logs)
    assert len(lines) == 2
    get_line, post_line = lines
    assert get_line["log_level"] == "info"
    assert get_line["component"] == "api"
    assert (get_line["method"], get_line["route"], get_line["status"]) == (
        "GET",
        "/tasks/{id}",
        404,
    )
    assert get_line["request_id"] == "trace-7" == missing.headers["x-request-id"]
    assert isinstance(get_line["duration_ms"], float) and get_line["duration_ms"] >= 0
    assert (post_line["method"], post_line["route"], post_line["status"]) == ("POST", "/tasks", 201)
    assert post_line["request_id"] == created.headers["x-request-id"]
    assert "path" not in get_line  # the raw path holds ids: the template only


@pytest.mark.parametrize(
    "sent",
    [
        "a" * 129,  # too long: a new id, not the first 128 characters
        "has space",
        "slash/inside",
        "new\\nline",
        "ünïcode",
        "",
    ],
)
async def test_an_unusable_request_id_is_replaced_by_a_new_one(serve: Serve, sent: str) -> None:
    async with serve(MEMORY_BLUEPRINT) as r:
        response = await r.client.get("/tasks", headers=[(b"x-request-id", sent.encode("utf-8"))])

    echoed = response.headers["x-request-id"]
    assert REQUEST_ID.fullmatch(echoed)
    assert echoed != sent and not (sent and sent.startswith(echoed))


async def test_a_usable_request_id_of_128_characters_is_kept(serve: Serve) -> None:
    sent = "A-z.0_9" * 18 + "ab"  # 128 characters of every allowed kind
    async with serve(MEMORY_BLUEPRINT) as r:
        response = await r.client.get("/tasks", headers={"X-Request-ID": sent})

    assert response.headers["x-request-id"] == sent


async def test_generated_request_ids_differ(serve: Serve) -> None:
    async with serve(MEMORY_BLUEPRINT) as r:
        ids = {(await r.client.get("/tasks")).headers["x-request-id"] for _ in range(5)}

    assert len(ids) == 5


async def test_the_request_id_is_on_the_lines_the_store_logs_for_that_request(
    serve: Serve,
) -> None:
    store = LoggingStore("store", [schemaless("jobs")])
    api = FastAPIEndpoint("api", {"port": 0})
    with capture_logs(processors=[merge_contextvars]) as logs:
        async with serve(components=[api, store], bindings=bound_to_store()) as r:
            await r.client.get("/jobs/1", headers={"X-Request-ID": "first"})
            await r.client.get("/jobs/2", headers={"X-Request-ID": "second"})
        structlog.get_logger("autocoder").info("after")

    saw = [e for e in logs if e.get("event") == "store_saw"]
    assert [(e["component"], e["request_id"]) for e in saw] == [
        ("store", "first"),
        ("store", "second"),
    ]
    after = next(e for e in logs if e["event"] == "after")
    assert "request_id" not in after  # the context ends with the request


async def test_access_log_false_logs_no_request_lines(serve: Serve) -> None:
    store = StagedStore("store", [schemaless("jobs")])
    api = FastAPIEndpoint("api", {"port": 0, "access_log": False})
    with capture_logs() as logs:
        async with serve(components=[api, store], bindings=bound_to_store()) as r:
            assert (await r.client.get("/jobs/1")).status_code == 200
            assert (await r.client.get("/nowhere")).status_code == 404

    assert access_lines(logs) == []


async def test_a_5xx_is_logged_as_a_warning_even_with_access_log_false(serve: Serve) -> None:
    unavailable = {"status": "error", "error_type": "unavailable", "message": "down"}
    store = StagedStore("store", [schemaless("jobs")], unavailable)
    api = FastAPIEndpoint("api", {"port": 0, "access_log": False})
    with capture_logs() as logs:
        async with serve(components=[api, store], bindings=bound_to_store()) as r:
            response = await r.client.get("/jobs/1")

    assert response.status_code == 503
    [line] = access_lines(logs)
    assert line["log_level"] == "warning"
    assert (line["route"], line["status"]) == ("/jobs/{id}", 503)
    assert line["request_id"] == response.headers["x-request-id"]


async def test_a_rejected_request_is_logged_with_the_route_it_was_meant_for(
    serve: Serve,
) -> None:
    store = StagedStore("store", [schemaless("jobs")])
    api = FastAPIEndpoint("api", {"port": 0, "api_keys": ["k-1"]})
    with capture_logs() as logs:
        async with serve(components=[api, store], bindings=bound_to_store()) as r:
            assert (await r.client.get("/jobs/1")).status_code == 401

    [line] = access_lines(logs)
    assert (line["route"], line["status"]) == ("/jobs/{id}", 401)


SECRET_BLUEPRINT = """
system:
  name: access_log_e2e
  components:
    - name: api
      type: FastAPIEndpoint
      config:
        port: ${API_PORT}
        api_keys: [key-Zq7-secret, {key: tenant-key-Xw3-secret, tenant: acme}]
    - name: store
      type: Store
      config: {storage_type: memory}
    - name: metrics
      type: MetricsEndpoint
      config:
        port: ${METRICS_PORT}
  bindings:
    - {from_component: api, to_component: store, stream_name: input}
"""


def test_no_key_authorization_value_or_record_data_in_a_debug_json_log(
    tmp_path: Path,
) -> None:
    from tests.http.test_blueprints_e2e import start  # a real `autocoder run` process

    blueprint = tmp_path / "secret.yaml"
    blueprint.write_text(textwrap.dedent(SECRET_BLUEPRINT))
    served = start(blueprint, tmp_path, None, "--log-level", "debug")
    try:
        with httpx.Client(base_url=served.api, timeout=10) as client:
            bearer = {"Authorization": "Bearer key-Zq7-secret", "X-Request-ID": "e2e-1"}
            created = client.post(
                "/tasks", json={"title": "record-data-Pq9", "note": "x"}, headers=bearer
            )
            assert created.status_code == 201
            record = created.headers["location"]
            other_tenant = client.get(record, headers={"X-API-Key": "tenant-key-Xw3-secret"})
            assert other_tenant.status_code == 404
            assert client.get("/tasks", params={"title": "record-data-Pq9"}, headers=bearer)
            wrong = client.get("/tasks", headers={"Authorization": "Bearer wrong-Vb5-secret"})
            assert wrong.status_code == 401
            bad = client.post("/tasks", content=b'{"title": "record-data-Pq9"', headers=bearer)
            assert bad.status_code == 400
    finally:
        code, _, err = served.stop()
    assert code == 0, err

    for secret in ("Zq7", "Xw3", "Vb5", "record-data-Pq9"):
        assert secret not in err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    access = [
        e
        for e in lines
        if e.get("event") == "request" and e.get("component") == "api" and e["route"] != "/ready"
    ]
    assert [(e["method"], e["route"], e["status"]) for e in access] == [
        ("POST", "/tasks", 201),
        ("GET", "/tasks/{id}", 404),
        ("GET", "/tasks", 200),
        ("GET", "/tasks", 401),
        ("POST", "/tasks", 400),
    ]
    assert access[0]["request_id"] == "e2e-1"
    assert access[0]["level"] == "info"

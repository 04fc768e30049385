"""``/health``, ``/ready``, ``/openapi.json`` and ``/docs`` of FastAPIEndpoint."""

from __future__ import annotations

from typing import Any

import pytest

from autocoder.blueprint.model import Binding
from autocoder.components.fastapi_endpoint import FastAPIEndpoint
from tests.http.fakes import StagedStore, schemaless
from tests.http.support import Running, Serve

pytestmark = pytest.mark.anyio

USERS: dict[str, Any] = {
    "name": "users",
    "schemaless": False,
    "fields": {
        "id": {
            "type": "integer",
            "nullable": False,
            "required": False,
            "primary_key": True,
            "generated": True,
        },
        "email": {"type": "string", "nullable": False, "required": True, "max_length": 255},
        "age": {"type": "integer", "nullable": True, "required": False},
        "active": {"type": "boolean", "nullable": False, "required": False},
    },
}


def bindings(*streams: tuple[str, str]) -> list[Binding]:
    return [
        Binding(from_component="api", to_component=to, stream_name=name) for name, to in streams
    ]


async def test_health_reports_the_first_store_and_every_component(api: Running) -> None:
    await api.client.post("/tasks", json={"t": 1})

    response = await api.client.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["health"]["status"] == "healthy"
    assert body["health"]["storage_type"] == "memory"
    assert body["health"]["task_count"] == 1
    assert set(body["components"]) == {"api", "store", "metrics"}


async def test_ready_is_200_when_everything_is_set_up(api: Running) -> None:
    response = await api.client.get("/ready")

    assert response.status_code == 200
    assert response.json()["status"] == "ready"


async def test_an_unhealthy_component_makes_health_503_degraded(serve: Serve) -> None:
    sick = StagedStore("store", [schemaless("jobs")], health={"status": "unhealthy"})
    api = FastAPIEndpoint("api", {"port": 0})
    async with serve(components=[api, sick], bindings=bindings(("input", "store"))) as r:
        response = await r.client.get("/health")

    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    assert response.json()["components"]["store"] == {"status": "unhealthy"}


async def test_a_disconnected_store_makes_ready_503(serve: Serve) -> None:
    down = StagedStore(
        "store", [schemaless("jobs")], health={"status": "healthy", "store_connected": False}
    )
    api = FastAPIEndpoint("api", {"port": 0})
    async with serve(components=[api, down], bindings=bindings(("input", "store"))) as r:
        ready = await r.client.get("/ready")
        health = await r.client.get("/health")

    assert ready.status_code == 503
    assert ready.json() == {"status": "not_ready", "waiting_for": ["store"]}
    assert health.status_code == 503


async def test_openapi_describes_every_route(api: Running) -> None:
    response = await api.client.get("/openapi.json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths["/tasks"]) == {"get", "post"}
    assert set(paths["/tasks/{id}"]) == {"get", "patch", "put", "delete"}
    assert "post" in paths["/actions/{stream_name}"]
    assert {"/health", "/ready"} <= set(paths)
    parameters = {p["name"] for p in paths["/tasks"]["get"]["parameters"]}
    assert {"limit", "offset", "order_by", "X-Tenant-ID"} <= parameters
    item_parameters = {p["name"] for p in paths["/tasks/{id}"]["put"]["parameters"]}
    assert item_parameters == {"id", "If-Match", "X-Tenant-ID"}
    assert "securitySchemes" not in response.json().get("components", {})


async def test_docs_page_is_served(api: Running) -> None:
    response = await api.client.get("/docs")

    assert response.status_code == 200
    assert "swagger" in response.text.lower()
    assert "/openapi.json" in response.text


async def test_openapi_models_a_tables_columns(serve: Serve) -> None:
    store = StagedStore("store", [USERS, schemaless("notes")])
    api = FastAPIEndpoint("api", {"port": 0})
    async with serve(components=[api, store], bindings=bindings(("input", "store"))) as r:
        spec = (await r.client.get("/openapi.json")).json()

    create = spec["paths"]["/users"]["post"]["requestBody"]["content"]["application/json"]
    schema = create["schema"]
    assert schema["required"] == ["email"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["email"]["maxLength"] == 255
    assert "id" in schema["properties"]  # a generated key may still be given
    patch = spec["paths"]["/users/{id}"]["patch"]["requestBody"]["content"]["application/json"]
    assert "required" not in patch["schema"]

    record = spec["components"]["schemas"]["UsersRecord"]
    assert set(record["properties"]) == {"id", "email", "age", "active"}
    age_types = {t.get("type") for t in record["properties"]["age"]["anyOf"]}
    assert age_types == {"integer", "null"}
    reply_ref = spec["paths"]["/users/{id}"]["get"]["responses"]["200"]["content"]
    assert reply_ref["application/json"]["schema"]["$ref"].endswith("/UsersReply")

    notes = spec["paths"]["/notes"]["post"]["requestBody"]["content"]["application/json"]
    assert notes["schema"] == {"type": "object", "additionalProperties": True}


async def test_a_second_store_on_another_stream_adds_its_collections(serve: Serve) -> None:
    first = StagedStore("first", [schemaless("tasks")], {"status": "success", "from": "first"})
    second = StagedStore("second", [schemaless("cache")], {"status": "success", "from": "second"})
    api = FastAPIEndpoint("api", {"port": 0})
    wiring = bindings(("input", "first"), ("cache", "second"))
    async with serve(components=[api, first, second], bindings=wiring) as r:
        tasks = await r.client.get("/tasks")
        cache = await r.client.get("/cache")
        health = await r.client.get("/health")

    assert tasks.json()["from"] == "first"
    assert cache.json()["from"] == "second"
    assert second.seen == [{"action": "list", "collection": "cache", "tenant": ""}]
    assert health.json()["health"] == {"status": "healthy"}

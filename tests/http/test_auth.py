"""API keys and tenants: 401 without a key, tenant-bound keys force their tenant."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.http.support import Running, Serve

pytestmark = pytest.mark.anyio

KEYS_BLUEPRINT = """
system:
  name: keyed
  components:
    - name: api
      type: FastAPIEndpoint
      config:
        port: 0
        api_keys:
          - admin-key
          - {key: acme-key, tenant: acme}
          - {key: globex-key, tenant: globex}
    - name: store
      type: Store
  bindings:
    - {from_component: api, to_component: store, stream_name: input}
"""

OPEN_BLUEPRINT = """
system:
  name: open
  components:
    - name: api
      type: FastAPIEndpoint
      config: {port: 0}
    - name: store
      type: Store
  bindings:
    - {from_component: api, to_component: store, stream_name: input}
"""


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def keyed(serve: Serve) -> AsyncIterator[Running]:
    async with serve(KEYS_BLUEPRINT) as r:
        yield r


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-key"},
        {"X-API-Key": "wrong-key"},
        {"Authorization": "Basic YWRtaW4ta2V5Og=="},
        {"Authorization": "Bearer"},
    ],
)
async def test_without_a_valid_key_every_data_route_is_401(
    keyed: Running, headers: dict[str, str]
) -> None:
    for method, path in (
        ("GET", "/tasks"),
        ("POST", "/tasks"),
        ("GET", "/tasks/1"),
        ("DELETE", "/tasks/1"),
        ("POST", "/actions/input"),
        ("GET", "/no-such-route"),
    ):
        response = await keyed.client.request(
            method, path, headers=headers, json={"action": "list"}
        )

        assert response.status_code == 401, (method, path)
        assert response.json()["status"] == "error"
        assert response.headers["www-authenticate"] == "Bearer"
        assert "wrong-key" not in response.text


async def test_probes_and_docs_need_no_key(keyed: Running) -> None:
    for path in ("/health", "/ready", "/openapi.json", "/docs", "/redoc"):
        assert (await keyed.client.get(path)).status_code == 200, path


async def test_a_key_works_as_bearer_or_x_api_key(keyed: Running) -> None:
    created = await keyed.client.post("/tasks", json={"t": 1}, headers=bearer("admin-key"))
    assert created.status_code == 201

    got = await keyed.client.get("/tasks/1", headers={"X-API-Key": "admin-key"})
    assert got.status_code == 200


async def test_a_tenant_bound_key_sees_only_its_tenant(keyed: Running) -> None:
    acme = await keyed.client.post("/tasks", json={"who": "acme"}, headers=bearer("acme-key"))
    assert acme.status_code == 201
    record = acme.headers["location"]

    # Another tenant's key cannot read, change, delete or list it, whatever header it sends.
    globex = bearer("globex-key") | {"X-Tenant-ID": "acme"}
    assert (await keyed.client.get(record, headers=globex)).status_code == 404
    assert (await keyed.client.patch(record, json={"x": 1}, headers=globex)).status_code == 404
    assert (await keyed.client.delete(record, headers=globex)).status_code == 404
    listed = await keyed.client.get("/tasks", headers=globex)
    assert listed.json()["data"] == []

    # Its own key sees it; an unbound key chooses the tenant with X-Tenant-ID.
    assert (await keyed.client.get(record, headers=bearer("acme-key"))).status_code == 200
    admin_as_acme = bearer("admin-key") | {"X-Tenant-ID": "acme"}
    assert (await keyed.client.get(record, headers=admin_as_acme)).status_code == 200
    assert (await keyed.client.get(record, headers=bearer("admin-key"))).status_code == 404


async def test_a_tenant_bound_key_cannot_choose_a_tenant_in_an_action_message(
    keyed: Running,
) -> None:
    await keyed.client.post("/tasks", json={"who": "globex"}, headers=bearer("globex-key"))

    sneaky = await keyed.client.post(
        "/actions/input",
        json={"action": "list", "tenant": "globex"},
        headers=bearer("acme-key"),
    )
    assert sneaky.json()["data"] == []

    batch = await keyed.client.post(
        "/actions/input",
        json={
            "action": "batch",
            "operations": [{"action": "update", "id": "1", "tenant": "globex", "data": {"x": 1}}],
        },
        headers=bearer("acme-key"),
    )
    assert batch.status_code == 404

    admin = await keyed.client.post(
        "/actions/input",
        json={"action": "list", "tenant": "globex"},
        headers=bearer("admin-key"),
    )
    assert [r["who"] for r in admin.json()["data"]] == ["globex"]


async def test_without_keys_the_tenant_comes_from_x_tenant_id(serve: Serve) -> None:
    async with serve(OPEN_BLUEPRINT) as r:
        created = await r.client.post("/tasks", json={"a": 1}, headers={"X-Tenant-ID": "t1"})
        record = created.headers["location"]

        assert (await r.client.get(record, headers={"X-Tenant-ID": "t1"})).status_code == 200
        assert (await r.client.get(record, headers={"X-Tenant-ID": "t2"})).status_code == 404
        assert (await r.client.get(record)).status_code == 404
        default = await r.client.get("/tasks")
        assert default.json()["count"] == 0


async def test_openapi_describes_the_keys(keyed: Running) -> None:
    spec = (await keyed.client.get("/openapi.json")).json()

    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "Authorization: Bearer KEY",
    }
    assert schemes["apiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert spec["paths"]["/tasks"]["post"]["security"] == [{"bearer": []}, {"apiKey": []}]
    assert "security" not in spec["paths"]["/health"]["get"]
    text = str(spec)
    assert "admin-key" not in text and "acme-key" not in text

"""The REST routes of FastAPIEndpoint over a memory Store: every route and its status codes."""

from __future__ import annotations

import pytest

from tests.http.support import Running

pytestmark = pytest.mark.anyio


async def test_create_answers_201_with_location_etag_and_the_store_reply(api: Running) -> None:
    response = await api.client.post("/tasks", json={"title": "write tests", "completed": False})

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "success"
    assert body["id"] == "1"
    assert body["data"] == {"id": "1", "title": "write tests", "completed": False}
    assert body["version"] == 1
    assert response.headers["location"] == "/tasks/1"
    assert response.headers["etag"] == '"1"'
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"]


async def test_location_of_a_created_record_serves_it(api: Running) -> None:
    created = await api.client.post("/tasks", json={"id": "a b/c", "title": "odd id"})
    assert created.status_code == 201
    assert created.headers["location"] == "/tasks/a%20b%2Fc"

    fetched = await api.client.get("/tasks/a%20b")
    assert fetched.status_code == 404  # a different id: nothing leaks across ids


async def test_get_returns_the_record_with_its_etag(api: Running) -> None:
    await api.client.post("/tasks", json={"title": "x"})

    response = await api.client.get("/tasks/1")

    assert response.status_code == 200
    assert response.json() == {
        "status": "success",
        "data": {"id": "1", "title": "x"},
        "version": 1,
    }
    assert response.headers["etag"] == '"1"'


async def test_get_of_a_missing_record_is_404_with_the_not_found_reply(api: Running) -> None:
    response = await api.client.get("/tasks/42")

    assert response.status_code == 404
    assert response.json() == {"status": "not_found", "action": "get", "id": "42"}


async def test_patch_merges_and_put_replaces(api: Running) -> None:
    await api.client.post("/tasks", json={"title": "x", "completed": False})

    patched = await api.client.patch("/tasks/1", json={"completed": True})
    assert patched.status_code == 200
    assert patched.json()["data"] == {"id": "1", "title": "x", "completed": True}
    assert patched.headers["etag"] == '"2"'

    replaced = await api.client.put("/tasks/1", json={"title": "y"})
    assert replaced.status_code == 200
    assert replaced.json()["data"] == {"id": "1", "title": "y"}
    assert replaced.headers["etag"] == '"3"'


async def test_patch_put_delete_of_a_missing_record_are_404(api: Running) -> None:
    assert (await api.client.patch("/tasks/9", json={"a": 1})).status_code == 404
    assert (await api.client.put("/tasks/9", json={"a": 1})).status_code == 404
    assert (await api.client.delete("/tasks/9")).status_code == 404


async def test_delete_is_204_without_body_and_the_record_is_gone(api: Running) -> None:
    await api.client.post("/tasks", json={"title": "x"})

    response = await api.client.delete("/tasks/1")

    assert response.status_code == 204
    assert response.content == b""
    assert (await api.client.get("/tasks/1")).status_code == 404


async def test_if_match_guards_writes_with_412_on_a_stale_version(api: Running) -> None:
    await api.client.post("/tasks", json={"title": "x"})

    ok = await api.client.patch("/tasks/1", json={"n": 1}, headers={"If-Match": '"1"'})
    assert ok.status_code == 200
    stale = await api.client.put("/tasks/1", json={"n": 2}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.json()["error_type"] == "version_conflict"
    stale_delete = await api.client.delete("/tasks/1", headers={"If-Match": '"1"'})
    assert stale_delete.status_code == 412
    weak = await api.client.delete("/tasks/1", headers={"If-Match": 'W/"2"'})
    assert weak.status_code == 204


async def test_if_match_that_is_no_version_is_412(api: Running) -> None:
    await api.client.post("/tasks", json={"title": "x"})

    response = await api.client.patch("/tasks/1", json={"n": 1}, headers={"If-Match": '"abc"'})

    assert response.status_code == 412
    assert response.json()["error_type"] == "version_conflict"
    assert (await api.client.get("/tasks/1")).json()["version"] == 1


async def test_creating_an_existing_id_is_409(api: Running) -> None:
    assert (await api.client.post("/tasks", json={"id": "k", "v": 1})).status_code == 201

    response = await api.client.post("/tasks", json={"id": "k", "v": 2})

    assert response.status_code == 409
    assert response.json()["error_type"] == "conflict"


async def test_list_pages_orders_and_filters_with_json_values(api: Running) -> None:
    for n, done in ((3, False), (1, True), (2, False)):
        await api.client.post("/tasks", json={"n": n, "completed": done, "tag": "7"})

    everything = await api.client.get("/tasks")
    assert everything.status_code == 200
    assert [r["n"] for r in everything.json()["data"]] == [3, 1, 2]

    ordered = await api.client.get("/tasks", params={"order_by": "-n", "limit": 2})
    body = ordered.json()
    assert [r["n"] for r in body["data"]] == [3, 2]
    assert body["count"] == 2
    assert body["next_offset"] == 2

    rest = await api.client.get("/tasks", params={"order_by": "-n", "limit": 2, "offset": 2})
    assert [r["n"] for r in rest.json()["data"]] == [1]
    assert rest.json()["next_offset"] is None

    open_tasks = await api.client.get("/tasks", params={"completed": "false"})
    assert sorted(r["n"] for r in open_tasks.json()["data"]) == [2, 3]

    # "7" parses as the number 7, which no record has; the JSON string "\"7\"" matches.
    assert (await api.client.get("/tasks", params={"tag": "7"})).json()["data"] == []
    quoted = await api.client.get("/tasks", params={"tag": '"7"'})
    assert len(quoted.json()["data"]) == 3

    # A value that is not JSON is taken as a plain string.
    await api.client.post("/tasks", json={"n": 4, "owner": "ann"})
    by_owner = await api.client.get("/tasks", params={"owner": "ann"})
    assert [r["n"] for r in by_owner.json()["data"]] == [4]


async def test_an_unknown_collection_is_404(api: Running) -> None:
    for response in (
        await api.client.get("/nothing"),
        await api.client.post("/nothing", json={}),
        await api.client.get("/nothing/1"),
    ):
        assert response.status_code == 404
        assert response.json()["status"] == "not_found"


async def test_a_method_a_route_does_not_have_is_405(api: Running) -> None:
    response = await api.client.delete("/tasks")

    assert response.status_code == 405
    assert response.json()["status"] == "error"
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}


async def test_head_answers_like_get_without_a_body(api: Running) -> None:
    await api.client.post("/tasks", json={"id": "h", "title": "headed"})

    response = await api.client.head("/tasks/h")

    assert response.status_code == 200
    assert response.headers["etag"] == '"1"'
    assert response.content == b""


async def test_actions_route_sends_any_message_with_the_same_mapping(api: Running) -> None:
    created = await api.client.post(
        "/actions/input", json={"action": "create", "data": {"title": "via action"}}
    )
    assert created.status_code == 201
    record_id = created.json()["id"]

    got = await api.client.post("/actions/input", json={"action": "get", "id": record_id})
    assert got.status_code == 200
    assert got.json()["data"]["title"] == "via action"
    assert got.headers["etag"] == '"1"'

    batch = await api.client.post(
        "/actions/input",
        json={
            "action": "batch",
            "operations": [
                {"action": "create", "data": {"title": "b1"}},
                {"action": "update", "id": record_id, "data": {"done": True}},
            ],
        },
    )
    assert batch.status_code == 200
    assert len(batch.json()["results"]) == 2

    missing = await api.client.post("/actions/input", json={"action": "get", "id": "nope"})
    assert missing.status_code == 404

    deleted = await api.client.post("/actions/input", json={"action": "delete", "id": record_id})
    assert deleted.status_code == 204


async def test_actions_route_maps_unknown_action_to_400_and_bad_data_to_422(
    api: Running,
) -> None:
    unknown = await api.client.post("/actions/input", json={"action": "explode"})
    assert unknown.status_code == 400
    assert unknown.json()["error_type"] == "unknown_action"

    bad = await api.client.post("/actions/input", json={"action": "create", "data": [1, 2]})
    assert bad.status_code == 422
    assert bad.json()["error_type"] == "validation_error"


async def test_actions_to_an_unbound_stream_is_404(api: Running) -> None:
    response = await api.client.post("/actions/elsewhere", json={"action": "list"})

    assert response.status_code == 404
    assert "input" in response.json()["message"]


async def test_request_id_is_echoed_when_the_client_sends_one(api: Running) -> None:
    response = await api.client.get("/tasks", headers={"X-Request-ID": "trace-123"})

    assert response.headers["x-request-id"] == "trace-123"

"""The component contract: what the runtime sends a component (only ``describe``, and only to
components that serve collections), what ``/actions/{stream}`` passes on, what a reply must be,
and the documented pattern of a component between an endpoint and a store
(``blueprints/notes.yaml`` with ``examples.notes:Slugger``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from autocoder import ComposedComponent, StartupError, System
from autocoder.blueprint.model import Binding
from autocoder.components.fastapi_endpoint import FastAPIEndpoint
from autocoder.components.store import Store
from examples.notes import Slugger
from tests.http.support import running

pytestmark = pytest.mark.anyio

NOTES = Path(__file__).parents[2] / "blueprints" / "notes.yaml"


class Recorder(ComposedComponent):
    """Keeps every item it is sent and echoes it back."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.seen: list[Any] = []

    async def process_item(self, item: Any) -> dict[str, Any]:
        self.seen.append(item)
        return {"status": "success", "echo": item}


def bind(*pairs: tuple[str, str, str]) -> list[Binding]:
    return [Binding(from_component=a, to_component=b, stream_name=s) for a, b, s in pairs]


def endpoint() -> FastAPIEndpoint:
    return FastAPIEndpoint("api", {"port": 0, "request_timeout": 5})


async def test_a_component_that_serves_no_collections_is_sent_nothing_at_start_up() -> None:
    worker = Recorder("worker")
    system = System("t", [endpoint(), worker], bind(("api", "worker", "jobs")))
    async with running(system) as r:
        assert worker.seen == []
        paths = set((await r.client.get("/openapi.json")).json()["paths"])
    assert paths == {"/actions/{stream_name}", "/health", "/ready"}


async def test_on_a_fan_out_stream_only_the_store_is_asked_to_describe() -> None:
    store = Store("store", {"table_name": "tasks"})
    auditor = Recorder("auditor")
    bindings = bind(("api", "store", "input"), ("api", "auditor", "input"))
    async with running(System("t", [endpoint(), store, auditor], bindings)) as r:
        assert auditor.seen == []
        created = await r.client.post("/tasks", json={"title": "x"})
    assert created.status_code == 201
    assert [m["action"] for m in auditor.seen] == ["create"]


async def test_actions_pass_the_body_as_sent() -> None:
    worker = Recorder("worker")
    system = System("t", [endpoint(), worker], bind(("api", "worker", "jobs")))
    body = {"action": "enqueue", "job": {"n": 1}}
    async with running(system) as r:
        plain = await r.client.post("/actions/jobs", json=body)
        own = await r.client.post("/actions/jobs", json={**body, "tenant": "b"})
        header = await r.client.post("/actions/jobs", json=body, headers={"X-Tenant-ID": "a"})
        both = await r.client.post(
            "/actions/jobs", json={**body, "tenant": "b"}, headers={"X-Tenant-ID": "a"}
        )
    assert plain.json()["echo"] == body
    assert own.json()["echo"] == {**body, "tenant": "b"}
    assert header.json()["echo"] == {**body, "tenant": "a"}
    assert both.json()["echo"] == {**body, "tenant": "b"}


async def test_a_tenant_bound_key_sets_the_tenant_of_an_action_message() -> None:
    worker = Recorder("worker")
    api = FastAPIEndpoint("api", {"port": 0, "api_keys": [{"key": "k", "tenant": "acme"}]})
    system = System("t", [api, worker], bind(("api", "worker", "jobs")))
    body = {"action": "batch", "tenant": "evil", "operations": [{"action": "list"}]}
    async with running(system) as r:
        reply = await r.client.post("/actions/jobs", json=body, headers={"X-API-Key": "k"})
    assert reply.json()["echo"] == {
        "action": "batch",
        "tenant": "acme",
        "operations": [{"action": "list", "tenant": "acme"}],
    }


async def test_a_reply_that_is_not_a_status_dict_answers_internal() -> None:
    class Sloppy(ComposedComponent):
        async def process_item(self, item: Any) -> Any:
            return ["not", "a", "reply"]

    system = System("t", [endpoint(), Sloppy("sloppy")], bind(("api", "sloppy", "s")))
    async with running(system) as r:
        reply = await r.client.post("/actions/s", json={"action": "x"})
    assert reply.status_code == 500
    assert reply.json()["error_type"] == "internal"
    assert reply.json()["message"] == (
        "component 'sloppy' returned list from process_item; "
        'a reply is a dict with a "status" (or None)'
    )


async def test_a_component_declaring_collections_must_describe_them() -> None:
    class Forgetful(Recorder):
        serves_collections = True

        async def process_item(self, item: Any) -> dict[str, Any]:
            return {"status": "error", "error_type": "unknown_action", "message": "what?"}

    system = System("t", [endpoint(), Forgetful("f")], bind(("api", "f", "input")))
    with pytest.raises(StartupError) as caught:
        async with system:
            pass
    assert str(caught.value) == (
        "api (FastAPIEndpoint): 'f' (Forgetful) on stream 'input' serves collections but did "
        "not describe them: what?"
    )


def notes_system(tmp_path: Path) -> System:
    environ = {"API_PORT": "0", "NOTES_DATABASE_URL": f"sqlite:///{tmp_path / 'notes.db'}"}
    return System.from_file(NOTES, environ=environ)


async def test_the_notes_blueprint_serves_the_store_routes_through_its_component(
    tmp_path: Path,
) -> None:
    system = notes_system(tmp_path)
    store = system.components["notes"]
    async with running(system) as r:
        empty = await store.process_item({"action": "list"})
        created = await r.client.post("/notes", json={"title": "Hello, World!"})
        note_id = created.json()["id"]
        blank = await r.client.post("/notes", json={"title": "  "})
        patched = await r.client.patch(f"/notes/{note_id}", json={"done": True})
        renamed = await r.client.put(f"/notes/{note_id}", json={"title": "Bye now"})
        listed = await r.client.get("/notes")
        paths = set((await r.client.get("/openapi.json")).json()["paths"])

    assert empty["data"] == [], "nothing is written at start-up"
    assert created.status_code == 201
    assert created.json()["data"] == {
        "id": note_id,
        "title": "Hello, World!",
        "slug": "hello-world",
    }
    assert blank.status_code == 422
    assert blank.json()["message"] == "a note needs a title: a string that is not blank"
    assert patched.json()["data"]["slug"] == "hello-world"
    assert renamed.json()["data"] == {"id": note_id, "title": "Bye now", "slug": "bye-now"}
    assert [n["slug"] for n in listed.json()["data"]] == ["bye-now"]
    assert {"/notes", "/notes/{id}"} <= paths


async def test_a_batch_through_the_component_is_checked_whole(tmp_path: Path) -> None:
    system = notes_system(tmp_path)
    async with running(system) as r:
        ok = await r.client.post(
            "/actions/input",
            json={"action": "batch", "operations": [{"action": "create", "data": {"title": "A"}}]},
        )
        bad = await r.client.post(
            "/actions/input",
            json={
                "action": "batch",
                "operations": [
                    {"action": "create", "data": {"title": "B"}},
                    {"action": "create", "data": {}},
                ],
            },
        )
        listed = await r.client.get("/notes")
    assert ok.json()["results"][0]["data"]["slug"] == "a"
    assert bad.status_code == 422
    assert [n["title"] for n in listed.json()["data"]] == ["A"]


async def test_reads_from_the_store_and_writes_through_a_component_is_explained() -> None:
    store = Store("notes", {"table_name": "notes"})
    slugger = Slugger("slugger")
    bindings = bind(
        ("api", "notes", "reads"), ("api", "slugger", "writes"), ("slugger", "notes", "store")
    )
    with pytest.raises(StartupError) as caught:
        async with System("t", [endpoint(), store, slugger], bindings):
            pass
    assert str(caught.value) == (
        "api (FastAPIEndpoint): collection 'notes' is served both by 'notes' (Store) on stream "
        "'reads' and by 'slugger' (Slugger) on stream 'writes'; an endpoint serves each "
        "collection over one binding: to put a component in front of a store, bind the "
        "endpoint to the component only and the component to the store"
    )

"""``System.reload`` in one process: kept components keep their state, nothing half-applies;
and the wiring under it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from autocoder.blueprint.loader import load_blueprint_text
from autocoder.blueprint.model import Binding
from autocoder.errors import StartupError
from autocoder.http.served import ServedComponent
from autocoder.runtime.wiring import Inbound, SendSide, rebind, wire
from autocoder.system import System
from tests.http.sse import ServerSentEvent, events
from tests.unit.components_for_tests import FailsAtSetup, Forwarder, type_name

pytestmark = pytest.mark.anyio


def blueprint(note: str = "", extra: str = "") -> str:
    return f"""\
system:
  name: reloading
  components:
    - {{name: store, type: Store, config: {{storage_type: memory}}}}
    - {{name: fwd, type: "{type_name(Forwarder)}", config: {{note: "{note}"}}}}
{extra}  bindings:
    - {{from_component: fwd, to_component: store, stream_name: out}}
"""


async def create(system: System, title: str) -> dict[str, Any]:
    item = {"action": "create", "collection": "tasks", "data": {"title": title}}
    return await system.components["fwd"].process_item(item) or {}


async def titles(system: System) -> list[str]:
    reply = await system.components["fwd"].process_item({"action": "list", "collection": "tasks"})
    assert reply is not None and reply["status"] == "success", reply
    return sorted(record["title"] for record in reply["data"])


async def test_a_replaced_sender_reaches_the_kept_store_and_its_records() -> None:
    async with System.from_text(blueprint()) as system:
        store, fwd = system.components["store"], system.components["fwd"]
        assert (await create(system, "before"))["status"] == "success"

        plan = await system.reload(load_blueprint_text(blueprint(note="new"), "bp.yaml"))

        assert (plan.changed, plan.kept) == (("fwd",), ("store",))
        assert system.components["store"] is store
        assert system.components["fwd"] is not fwd
        assert (await create(system, "after"))["status"] == "success"
        assert await titles(system) == ["after", "before"]
        assert not fwd.is_set_up  # drained and cleaned up


async def test_a_component_that_cannot_set_up_leaves_the_system_as_it_was() -> None:
    failing = f'    - {{name: moon, type: "{type_name(FailsAtSetup)}"}}\n'
    async with System.from_text(blueprint()) as system:
        before = dict(system.components)
        assert (await create(system, "kept"))["status"] == "success"

        with pytest.raises(StartupError, match=r"moon .*cannot reach the moon"):
            await system.reload(load_blueprint_text(blueprint("new", failing), "bp.yaml"))

        assert system.components == before
        assert await titles(system) == ["kept"]
        # The blueprint it runs is still the first one: reloading it changes nothing.
        plan = await system.reload(load_blueprint_text(blueprint(), "bp.yaml"))
        assert (plan.added, plan.changed, plan.removed) == ((), (), ())


class _Wired:
    """The least a component is to wiring."""

    serves_collections = False

    def __init__(self, name: str) -> None:
        self.name = name
        self.type_name = "Test"
        self.receive_streams: dict[str, Inbound] = {}
        self.send_streams: dict[str, SendSide] = {}


async def test_a_send_caught_by_a_rebind_goes_to_the_receivers_new_stream() -> None:
    sender, old, new = _Wired("sender"), _Wired("receiver"), _Wired("receiver")
    binding = Binding(from_component="sender", to_component="receiver", stream_name="in")
    wire({"sender": sender, "receiver": old}, [binding])
    wire({"sender": sender, "receiver": new}, [binding], senders=())
    outbound = sender.send_streams["in"]
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(outbound.send, "on its way")
            await anyio.lowlevel.checkpoint()  # the send has begun, and waits its turn
            for stream in rebind({"sender": sender, "receiver": new}, [binding], ["sender"]):
                stream.close()
        delivered = [
            inbound.stream.receive_nowait().message
            for inbound in (old.receive_streams["in"], new.receive_streams["in"])
            if inbound.buffer_used()
        ]
        assert delivered == ["on its way"]
    finally:
        for component in (sender, old, new):
            for side in component.send_streams.values():
                await side.aclose()
            for inbound in component.receive_streams.values():
                inbound.close_joining()
                await inbound.stream.aclose()


def watched(endpoint_config: str, store_config: str = "") -> str:
    return f"""\
system:
  name: watched
  components:
    - {{name: store, type: Store, config: {{storage_type: memory{store_config}}}}}
    - {{name: api, type: FastAPIEndpoint, config: {{port: 0{endpoint_config}}}}}
  bindings:
    - {{from_component: api, to_component: store, stream_name: requests}}
"""


async def test_a_watch_through_a_replaced_endpoint_ends_and_resumes_on_the_new_one() -> None:
    async with System.from_text(watched("")) as system:
        api = system.components["api"]
        assert isinstance(api, ServedComponent)
        async with httpx.AsyncClient(base_url=api.base_url, timeout=10) as client:
            async with client.stream("GET", "/tasks", params={"watch": "true"}) as watch:
                assert (await client.post("/tasks", json={"n": 1})).status_code == 201
                stream = events(watch)
                assert await next_change(stream) == ("1", 1)
                plan = await system.reload(
                    load_blueprint_text(watched(", heartbeat_seconds: 5"), "bp.yaml")
                )
                assert (plan.changed, plan.kept) == (("api",), ("store",))
                with anyio.fail_after(10):  # the old endpoint's watch ends as it drains
                    assert [event async for event in stream if event.event == "change"] == []

            replaced = system.components["api"]
            assert isinstance(replaced, ServedComponent) and replaced is not api
            assert replaced.base_url == api.base_url  # the same port, the same client
            assert (await client.post("/tasks", json={"n": 2})).status_code == 201
            resume = {"last-event-id": "1"}
            async with client.stream(
                "GET", "/tasks", params={"watch": "true"}, headers=resume
            ) as w:
                assert await next_change(events(w)) == ("2", 2)


async def next_change(stream: AsyncIterator[ServerSentEvent]) -> tuple[str | None, Any]:
    with anyio.fail_after(10):
        async for event in stream:
            if event.event == "change" and event.data is not None:
                return event.id, event.data["data"]["n"]
    raise AssertionError("the watch ended without a change")


async def test_a_watch_through_the_new_endpoint_follows_the_new_store() -> None:
    async with System.from_text(watched("")) as system:
        changed = watched("", store_config=", command_timeout: 7")
        plan = await system.reload(load_blueprint_text(changed, "bp.yaml"))
        assert plan.changed == ("store", "api")
        api = system.components["api"]
        assert isinstance(api, ServedComponent)
        async with (
            httpx.AsyncClient(base_url=api.base_url, timeout=10) as client,
            client.stream("GET", "/tasks", params={"watch": "true"}) as watch,
        ):
            assert (await client.post("/tasks", json={"n": 1})).status_code == 201
            assert await next_change(events(watch)) == ("1", 1)


async def test_requests_still_queued_when_a_drain_times_out_are_answered_unavailable() -> None:
    from tests.unit.test_runtime import Gate, Source, bind

    source, gate = Source("source"), Gate("gate")
    system = System("s", [source, gate], [bind("source", "gate")], shutdown_timeout=0.2)
    replies: list[dict[str, Any]] = []

    async def ask(n: int) -> None:
        replies.append(await source.request("input", {"n": n}, timeout=30))

    with anyio.fail_after(10):  # not the requests' 30 s
        async with anyio.create_task_group() as tg, system:
            for n in range(2):
                tg.start_soon(ask, n)
            while gate.receive_streams["input"].buffer_used() < 1:  # one taken, one queued
                await anyio.sleep(0.01)
    assert [r["error_type"] for r in replies] == ["unavailable", "unavailable"]

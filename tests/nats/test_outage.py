"""NATS lost while running: unavailable at once, not ready, and back by itself.

The outage is real: the system reaches NATS through a TCP relay in the test process, and
"NATS goes down" closes the relay's listener and every connection through it.
"""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent
from urllib.parse import urlsplit

import anyio
import httpx
import nats
import pytest
from nats.aio.msg import Msg

from autocoder import System, Unavailable
from autocoder.blueprint.loader import load_blueprint_text
from autocoder.transport.connection import NatsLink
from autocoder.transport.sends import Target, publish
from autocoder.transport.subjects import BindingNames
from tests.nats.processes import Process, free_port
from tests.relay import Relay

pytestmark = pytest.mark.anyio
BOUND = 20.0  # everything below happens well within this, or the test fails (no hang)


async def relay_to(nats_url: str) -> Relay:
    parts = urlsplit(nats_url)
    relay = Relay(parts.hostname or "127.0.0.1", parts.port or 4222)
    await relay.start()
    return relay


async def eventually(check: object, what: str) -> None:
    with anyio.fail_after(BOUND):
        while not await check():  # type: ignore[operator]
            await anyio.sleep(0.05)


API_AND_STORE = """\
system:
  name: {system}
  nats: {{url: "nats://127.0.0.1:{port}"}}
  components:
    - {{name: api, type: FastAPIEndpoint, config: {{port: {api_port}, request_timeout: 30}}}}
    - {{name: store, type: Store}}
  bindings:
    - {{from_component: api, to_component: store, stream_name: input, transport: nats}}
"""


# The system is an `autocoder run` process reached over HTTP: run once, the process on the loop
# its name picks (tests/conftest.py). The two tests below run the system in this process, on both.
@pytest.mark.processes
async def test_an_outage_makes_the_api_not_ready_and_unavailable_then_it_resumes(
    tmp_path: Path, nats_url: str, system_name: str
) -> None:
    relay = await relay_to(nats_url)
    api_port = free_port()
    blueprint = tmp_path / "system.yaml"
    blueprint.write_text(
        API_AND_STORE.format(system=system_name, port=relay.port, api_port=api_port)
    )
    process = Process(tmp_path, "both", str(blueprint), env={})
    base = f"http://127.0.0.1:{api_port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=BOUND) as http:

            async def up() -> bool:
                assert process.popen.poll() is None, process.output()
                try:
                    return (await http.get("/ready")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(up, "serving")
            assert (await http.post("/tasks", json={"title": "before"})).status_code == 201

            await relay.stop()

            async def not_ready() -> bool:
                return (await http.get("/ready")).status_code == 503

            await eventually(not_ready, "/ready 503")
            health = (await http.get("/health")).json()
            assert health["components"]["api"]["transport_connected"] is False
            assert health["components"]["store"]["transport_connected"] is False
            with anyio.fail_after(5):  # well before the 30 s request timeout
                during = await http.post("/tasks", json={"title": "during"})
            assert during.status_code == 503
            assert during.json()["error_type"] == "unavailable"
            metrics = (await http.get("/health")).json()
            assert metrics["status"] == "degraded"

            await relay.start()
            await eventually(up, "/ready 200 again")
            health = (await http.get("/health")).json()
            assert health["components"]["api"]["transport_connected"] is True
            after = await http.post("/tasks", json={"title": "after"})
            assert after.status_code == 201, after.text
            listed = (await http.get("/tasks")).json()
            assert [r["title"] for r in listed["data"]] == ["before", "after"]
    finally:
        code = process.stop()
        await relay.stop()
    assert code == 0, process.output()


SENDER = """\
system:
  name: {system}
  nats: {{url: "nats://127.0.0.1:{port}"}}
  components:
    - {{name: sender, type: "tests.nats.components:Recorder", config: {{output: {out}}}}}
    - {{name: recorder, type: "tests.nats.components:Recorder", config: {{output: {out}}}}}
  bindings:
    - {{from_component: sender, to_component: recorder, stream_name: out, transport: nats}}
"""


async def test_send_raises_unavailable_while_nats_is_lost_and_works_once_it_is_back(
    tmp_path: Path, nats_url: str, system_name: str
) -> None:
    relay = await relay_to(nats_url)
    output = tmp_path / "recorded.jsonl"
    text = SENDER.format(system=system_name, port=relay.port, out=output)
    try:
        async with System.from_loaded(load_blueprint_text(dedent(text))) as system:
            sender = system.components["sender"]
            await sender.send("out", {"n": 1})

            await relay.stop()

            async def lost() -> bool:
                return sender.health_status()["transport_connected"] is False

            await eventually(lost, "the connection is seen lost")
            assert not system.is_ready()
            with anyio.fail_after(5), pytest.raises(Unavailable) as caught:
                await sender.send("out", {"n": 2})
            assert f"127.0.0.1:{relay.port}" in str(caught.value)
            reply = await sender.request("out", {"n": 3}, 30.0)
            assert reply["error_type"] == "unavailable"
            exposition = _metrics(system)
            assert "autocoder_transport_connected 0.0" in exposition

            await relay.start()

            async def back() -> bool:
                return system.is_ready()

            await eventually(back, "ready again")
            await sender.send("out", {"n": 4})

            async def both_recorded() -> bool:
                text = output.read_text() if output.exists() else ""
                return '"n": 1' in text and '"n": 4' in text

            await eventually(both_recorded, "the sends before and after processed")
            exposition = _metrics(system)
            assert "autocoder_transport_connected 1.0" in exposition
            assert (
                'autocoder_transport_messages_total{component="sender",direction="out",'
                'stream="out"} 2.0' in exposition
            )
            assert (
                'autocoder_transport_messages_total{component="recorder",direction="in",'
                'stream="out"} 2.0' in exposition
            )
    finally:
        await relay.stop()


def _metrics(system: System) -> str:
    from prometheus_client import generate_latest

    return generate_latest(system.metrics.registry).decode()


STORE_CHANGES = """\
system:
  name: {system}
  nats: {{url: "nats://127.0.0.1:{port}"}}
  components:
    - {{name: store, type: Store}}
    - {{name: audit, type: "tests.nats.components:Recorder", config: {{output: {out}}}}}
  bindings:
    - {{from_component: store, to_component: audit, stream_name: changes, transport: nats}}
"""


async def test_a_store_keeps_serving_when_its_change_events_cannot_be_sent(
    tmp_path: Path, nats_url: str, system_name: str
) -> None:
    from structlog.testing import capture_logs

    relay = await relay_to(nats_url)
    output = tmp_path / "audit.jsonl"
    text = STORE_CHANGES.format(system=system_name, port=relay.port, out=output)
    try:
        async with System.from_loaded(load_blueprint_text(dedent(text))) as system:
            store = system.components["store"]
            await relay.stop()

            async def lost() -> bool:
                return store.health_status()["transport_connected"] is False

            await eventually(lost, "the connection is seen lost")
            with capture_logs() as logs:
                reply = await store.process_item({"action": "create", "data": {"title": "x"}})
            assert reply["status"] == "success"  # committed: the reply stands
            [letter] = [e for e in logs if e["event"] == "dead_letter"]
            assert letter["stream"] == "changes"
            assert "Unavailable" in letter["error"]
            assert store.healthy

            await relay.start()

            async def back() -> bool:
                return system.is_ready()

            await eventually(back, "ready again")
            reply = await store.process_item({"action": "create", "data": {"title": "y"}})
            assert reply["status"] == "success"

            async def audited() -> bool:
                return output.exists() and '"title": "y"' in output.read_text()

            await eventually(audited, "the next change audited")
    finally:
        await relay.stop()


SLOW_RECEIVER = """\
system:
  name: {system}
  nats: {{url: "nats://127.0.0.1:{port}"}}
  components:
    - {{name: caller, type: "tests.nats.components:Recorder", config: {{output: {out}}}}}
    - name: slow
      type: "tests.nats.components:Recorder"
      config: {{output: {out}, delay: 3}}
  bindings:
    - {{from_component: caller, to_component: slow, stream_name: work, transport: nats}}
"""


async def test_a_request_awaiting_its_reply_when_nats_is_lost_is_unavailable_at_once(
    tmp_path: Path, nats_url: str, system_name: str
) -> None:
    relay = await relay_to(nats_url)
    text = SLOW_RECEIVER.format(system=system_name, port=relay.port, out=tmp_path / "out")
    replies: list[dict[str, object]] = []
    try:
        async with System.from_loaded(load_blueprint_text(dedent(text))) as system:
            caller = system.components["caller"]

            async def ask() -> None:
                replies.append(await caller.request("work", {"n": 1}, 30.0))

            async with anyio.create_task_group() as tg:
                tg.start_soon(ask)
                await anyio.sleep(0.5)  # the request is with the slow receiver
                await relay.stop()
                with anyio.fail_after(2):  # not its 30 s timeout, nor the 3 s the reply takes
                    while not replies:
                        await anyio.sleep(0.01)
    finally:
        await relay.stop()
    assert replies[0]["error_type"] == "unavailable", replies
    assert "lost NATS" in str(replies[0]["message"])


async def test_a_send_awaiting_jetstream_when_nats_is_lost_raises_unavailable_at_once(
    nats_url: str, system_name: str
) -> None:
    relay = await relay_to(nats_url)
    link = NatsLink(f"nats://127.0.0.1:{relay.port}", "test")
    target = Target("receiver", BindingNames(system_name, "receiver", "work"), 1, "id", 5, 30.0)
    # No stream stores this subject: a subscriber that never acknowledges stands in for a
    # JetStream that has not answered yet.
    silent = await nats.connect(nats_url)
    held: list[Msg] = []

    async def hold(msg: Msg) -> None:
        held.append(msg)

    await silent.subscribe(target.names.lane_subject(0), cb=hold)
    await silent.flush()
    failures: list[BaseException] = []
    try:
        await link.connect()

        async def send() -> None:
            try:
                await publish(link, target, 0, b'{"n": 1}', "id-1")
            except Unavailable as exc:
                failures.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(send)
            with anyio.fail_after(BOUND):
                while not held:  # the publish is out, awaiting its acknowledgement
                    await anyio.sleep(0.01)
            await relay.stop()
            with anyio.fail_after(2):  # not three attempts of 5 s each
                while not failures:
                    await anyio.sleep(0.01)
    finally:
        await link.close()
        await silent.close()
        await relay.stop()
    assert "lost NATS" in str(failures[0]), failures

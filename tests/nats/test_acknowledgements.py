"""A lane acknowledges its messages together, yet each only once ``process_item`` returned;
a process that dies in between has its messages delivered again, not lost."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from textwrap import dedent

import anyio
import nats
import pytest
from nats.aio.msg import Msg

from autocoder import System
from autocoder.blueprint.loader import load_blueprint_text
from autocoder.observability.instruments import CounterChild
from autocoder.runtime.channel import ChannelReceiver, ChannelSender, channel
from autocoder.runtime.messages import Envelope
from autocoder.transport.handover import Handover, delivery_count
from autocoder.transport.subjects import BindingNames
from tests.nats.processes import Process, wait_until

WATCHED = """\
system:
  name: {system}
  nats: {{url: "{url}"}}
  components:
    - {{name: sender, type: "tests.nats.components:Recorder", config: {{output: unused}}}}
    - name: watcher
      type: "tests.nats.components:AckFloorWatcher"
      config: {{url: "{url}", stream: "{stream}", output: "{output}"}}
  bindings:
    - {{from_component: sender, to_component: watcher, stream_name: work, transport: nats}}
"""


async def settled(url: str, stream: str) -> bool:
    client = await nats.connect(url)
    try:
        info = await client.jetstream().consumer_info(stream, "lane-0")
        return not info.num_pending and not info.num_ack_pending
    finally:
        await client.close()


@pytest.mark.anyio
async def test_no_message_is_acknowledged_before_its_process_item_returned(
    tmp_path: Path, nats_url: str, system_name: str
) -> None:
    count = 30
    stream = BindingNames(system_name, "watcher", "work").jetstream_stream
    output = tmp_path / "floors.jsonl"
    text = WATCHED.format(system=system_name, url=nats_url, stream=stream, output=output)
    async with System.from_loaded(load_blueprint_text(dedent(text))) as system:
        sender = system.components["sender"]
        for n in range(1, count + 1):  # the n-th message is stored at stream sequence n
            await sender.send("work", {"n": n})
        with anyio.fail_after(30):
            while not output.exists() or output.read_text().count("\n") < count:
                await anyio.sleep(0.05)
            while not await settled(nats_url, stream):  # every acknowledgement arrived
                await anyio.sleep(0.05)
    seen = [json.loads(line) for line in output.read_text().splitlines()]
    assert [s["n"] for s in seen] == list(range(1, count + 1))
    early = [s for s in seen if s["ack_floor"] >= s["n"]]
    assert not early, f"acknowledged while still being processed: {early}"
    # The ones before were acknowledged meanwhile, not held back to the end of the batch.
    assert seen[-1]["ack_floor"] >= count - 2


DYING = """\
system:
  name: {system}
  nats: {{url: "{url}"}}
  components:
    - name: sender
      type: "tests.nats.components:Sender"
      config: {{count: {count}, marker: sent.done}}
    - name: recorder
      type: "tests.nats.components:DiesAfterProcessing"
      config: {{output: recorded.jsonl, die_at: {die_at}, marker: died}}
  bindings:
    - {{from_component: sender, to_component: recorder, stream_name: out, transport: nats}}
"""


def test_a_process_killed_between_process_item_and_acknowledging_loses_nothing(
    tmp_path: Path, nats_url: str, system_name: str
) -> None:
    count, die_at = 60, 20
    blueprint = tmp_path / "system.yaml"
    blueprint.write_text(DYING.format(system=system_name, url=nats_url, count=count, die_at=die_at))
    output = tmp_path / "recorded.jsonl"

    def recorded() -> Counter[int]:
        if not output.exists():
            return Counter()
        return Counter(json.loads(line)["item"]["n"] for line in output.read_text().splitlines())

    sender = Process(tmp_path, "sender", str(blueprint), "--components", "sender", env={})
    first = second = None
    try:
        wait_until(lambda: (tmp_path / "sent.done").exists(), 30, "every message sent")
        first = Process(tmp_path, "first", str(blueprint), "--components", "recorder", env={})
        wait_until(lambda: first.popen.poll() is not None, 30, "the first receiver died")
        assert first.popen.returncode == -9, first.output()
        assert recorded()[die_at] == 1
        second = Process(tmp_path, "second", str(blueprint), "--components", "recorder", env={})
        second.wait_up()
        wait_until(lambda: recorded()[die_at] == 2, 60, f"{die_at} delivered again")
        wait_until(lambda: set(recorded()) == set(range(count)), 60, "every message processed")
    finally:
        assert sender.stop() == 0, sender.output()
        if second is not None:
            assert second.stop() == 0, second.output()
    # die_at was processed, but its acknowledgement never went out: it came again, once.
    assert recorded()[die_at] == 2


@pytest.mark.parametrize(
    "reply",
    [
        "$JS.ACK.S.lane-0.3.17.9.1764590000000000000.5",
        "$JS.ACK.hub.ACCHASH.S.lane-0.3.17.9.1764590000000000000.5",
        "$JS.ACK.hub.ACCHASH.S.lane-0.3.17.9.1764590000000000000.5.r4nd0m",
    ],
)
def test_the_delivery_count_is_the_one_nats_py_reads(reply: str) -> None:
    msg = Msg(None, subject="s", reply=reply)  # type: ignore[arg-type]  # no client needed
    assert delivery_count(msg) == msg.metadata.num_delivered == 3


def test_a_fault_handing_a_message_over_stops_the_handover_not_the_worker() -> None:
    send: ChannelSender[Envelope]
    receive: ChannelReceiver[Envelope]
    send, receive = channel(4)
    reply = "$JS.ACK.S.lane-0.1.1.1.1764590000000000000.0"
    msg = Msg(None, subject="s", reply=reply, data=b"{}")  # type: ignore[arg-type]

    def broken_lease() -> bool:
        raise RuntimeError("a fault of autocoder's")

    handover = Handover([msg], send, broken_lease, CounterChild(), CounterChild(), None)
    handover.advance()  # in a worker's turn this runs inside its reply slot's set()
    assert handover.stopped_at == "error"
    assert isinstance(handover.error, RuntimeError)
    assert handover.in_flight is None
    with pytest.raises(anyio.WouldBlock):
        receive.receive_nowait()  # nothing was handed over
    send.close()
    receive.close()

"""A send whose processing failed comes again, in its place; past max_deliver it is given up."""

from __future__ import annotations

import json
from pathlib import Path
from textwrap import dedent

import anyio
import nats
import pytest
from prometheus_client import generate_latest
from structlog.testing import capture_logs

from autocoder import ComponentFailure, System
from autocoder.blueprint.loader import load_blueprint_text
from autocoder.transport.subjects import BindingNames
from tests.nats.components import Flaky

pytestmark = pytest.mark.anyio

BLUEPRINT = """\
system:
  name: {system}
  nats: {{url: "{url}"}}
  components:
    - {{name: sender, type: "tests.nats.components:Recorder", config: {{output: unused}}}}
    - name: flaky
      type: "tests.nats.components:Flaky"
      config: {{output: {out}}}
      restart: {{max_restarts: 20, backoff_seconds: 0}}
  bindings:
    - {{from_component: sender, to_component: flaky, stream_name: work, transport: nats,
       max_deliver: 3}}
"""


async def test_a_failed_send_is_delivered_again_in_order_and_given_up_after_max_deliver(
    tmp_path: Path, nats_url: str, system_name: str
) -> None:
    output = tmp_path / "processed.jsonl"
    text = BLUEPRINT.format(system=system_name, url=nats_url, out=output)
    with capture_logs() as logs:
        async with System.from_loaded(load_blueprint_text(dedent(text))) as system:
            sender = system.components["sender"]
            await sender.send("work", {"n": 1, "fail": 2, "run": system_name})
            await sender.send("work", {"n": 2, "fail": -1, "run": system_name})
            await sender.send("work", {"n": 3, "run": system_name})
            with anyio.fail_after(30):
                while output.read_text().count("\n") < 2 if output.exists() else True:
                    await anyio.sleep(0.05)
            exposition = generate_latest(system.metrics.registry).decode()
    processed = [json.loads(line)["item"]["n"] for line in output.read_text().splitlines()]
    # n=1 failed twice and was processed on its third delivery, before n=3; n=2 never was.
    assert processed == [1, 3]
    dead = [entry for entry in logs if entry["event"] == "dead_letter"]
    assert len(dead) == 1
    assert dead[0]["attempts"] == 3
    assert dead[0]["component"] == "flaky"
    assert 'autocoder_transport_dead_letters_total{component="flaky",stream="work"} 1.0' in (
        exposition
    )
    # n=1 came twice more, n=2 twice more; a message fetched in the same batch as a failing one
    # is given back with it and comes again too, so how many more depends on how the fetches fell.
    prefix = 'autocoder_transport_redeliveries_total{component="flaky",stream="work"} '
    counted = [line for line in exposition.splitlines() if line.startswith(prefix)]
    assert len(counted) == 1, exposition
    assert float(counted[0].removeprefix(prefix)) >= 4.0, counted[0]


async def test_sends_that_come_while_one_is_failing_are_processed_after_it(
    tmp_path: Path, nats_url: str, system_name: str
) -> None:
    """A fetch that got the first message can leave its pull request open, which goes on
    delivering the next ones to this process: they must still wait for the failing one."""
    output = tmp_path / "processed.jsonl"
    text = BLUEPRINT.format(system=system_name, url=nats_url, out=output)
    first = {"n": 1, "fail": 2, "run": system_name}
    async with System.from_loaded(load_blueprint_text(dedent(text))) as system:
        sender = system.components["sender"]
        await anyio.sleep(0.3)  # the lane waits in a fetch
        await sender.send("work", first)
        with anyio.fail_after(10):
            while not Flaky.failures.get(json.dumps(first, sort_keys=True)):
                await anyio.sleep(0.001)
        for n in range(2, 7):
            await sender.send("work", {"n": n, "run": system_name})
        with anyio.fail_after(30):
            while output.read_text().count("\n") < 6 if output.exists() else True:
                await anyio.sleep(0.05)
    processed = [json.loads(line)["item"]["n"] for line in output.read_text().splitlines()]
    assert processed == [1, 2, 3, 4, 5, 6]


async def test_sends_to_a_component_that_failed_for_good_are_given_back_not_dead_letters(
    tmp_path: Path, nats_url: str, system_name: str
) -> None:
    """Past its restarts a component answers what reaches it with an error while the system
    stops; those are no failures of the messages, which stay for the next process."""
    output = tmp_path / "processed.jsonl"
    text = BLUEPRINT.format(system=system_name, url=nats_url, out=output).replace(
        "max_restarts: 20", "max_restarts: 0"
    )
    with capture_logs() as logs, pytest.raises(ComponentFailure, match="flaky"):
        async with System.from_loaded(load_blueprint_text(dedent(text))) as system:
            sender = system.components["sender"]
            for n in range(1, 4):
                await sender.send("work", {"n": n, "fail": -1, "run": system_name})
            with anyio.fail_after(30):
                while system.running:
                    await anyio.sleep(0.05)
    assert [entry for entry in logs if entry["event"] == "dead_letter"] == []
    client = await nats.connect(nats_url)
    try:
        stream = BindingNames(system_name, "flaky", "work").jetstream_stream
        info = await client.jetstream().stream_info(stream)
    finally:
        await client.close()
    assert info.state.messages == 3  # all kept, for the next process to serve the lane

"""A nats ``send`` that fails ``max_deliver`` times is a dead letter on ``dead_letters``.

One process, a real nats-server: the sender's item goes over JetStream to a component that
raises on it; the binding delivers it again (the component restarting in between) until
``max_deliver``, then hands it to the component's ``dead_letter``, and a Store keeps it.
A request over nats that raises is a dead letter at once (nothing delivers it again).
"""

from __future__ import annotations

from textwrap import dedent
from typing import Any

import anyio
import pytest

from autocoder import ComposedComponent, System
from autocoder.blueprint.loader import load_blueprint_text

pytestmark = pytest.mark.anyio


class Source(ComposedComponent):
    """Sends whatever the test asks it to."""


class AlwaysFails(ComposedComponent):
    """Raises on every item."""

    async def process_item(self, item: Any) -> None:
        raise RuntimeError(f"cannot process {item.get('n')}")


BLUEPRINT = """\
system:
  name: {system}
  nats: {{url: "{url}"}}
  components:
    - {{name: source, type: "tests.nats.test_dead_letters:Source"}}
    - name: worker
      type: "tests.nats.test_dead_letters:AlwaysFails"
      dead_letters: failed
      restart: {{max_restarts: 10, backoff_seconds: 0}}
    - {{name: graveyard, type: Store, config: {{storage_type: memory}}}}
  bindings:
    - {{from_component: source, to_component: worker, stream_name: jobs, transport: nats,
       max_deliver: 3, ack_wait: 5}}
    - {{from_component: source, to_component: worker, stream_name: asks, transport: nats}}
    - {{from_component: worker, to_component: graveyard, stream_name: failed}}
"""


async def letters(system: System, count: int) -> list[dict[str, Any]]:
    store = system.components["graveyard"]
    with anyio.fail_after(30):
        while True:
            reply = await store.process_item({"action": "list"})
            if reply["count"] >= count:
                data: list[dict[str, Any]] = reply["data"]
                return data
            await anyio.sleep(0.05)


async def test_a_send_past_max_deliver_is_kept_as_a_dead_letter(
    nats_url: str, system_name: str
) -> None:
    text = BLUEPRINT.format(system=system_name, url=nats_url)
    async with System.from_loaded(load_blueprint_text(dedent(text))) as system:
        await system.components["source"].send("jobs", {"n": 1})
        [letter] = await letters(system, 1)
        dead = system.metrics.registry.get_sample_value(
            "autocoder_dead_letters_total", {"component": "worker"}
        )

    assert letter["event"] == "dead_letter"
    assert (letter["component"], letter["stream"]) == ("worker", "jobs")
    assert letter["message"] == {"n": 1}
    assert letter["attempts"] == 3  # delivered max_deliver times, one dead letter
    assert "cannot process 1" in letter["error"]
    assert dead == 1


async def test_a_request_over_nats_that_raised_is_a_dead_letter_at_once(
    nats_url: str, system_name: str
) -> None:
    text = BLUEPRINT.format(system=system_name, url=nats_url)
    async with System.from_loaded(load_blueprint_text(dedent(text))) as system:
        reply = await system.components["source"].request("asks", {"n": 2}, 10.0)
        [letter] = await letters(system, 1)

    assert reply["error_type"] == "unavailable"
    assert (letter["stream"], letter["attempts"], letter["message"]) == ("asks", 1, {"n": 2})
    assert letter["error"] == "RuntimeError: cannot process 2"

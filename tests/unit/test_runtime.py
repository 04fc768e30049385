"""The stream runtime: fan-in, fan-out, backpressure, request/reply, restarts, drain."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from autocoder import ComponentFailure, ComposedComponent, RestartPolicy, StartupError, System
from autocoder.blueprint.model import Binding

pytestmark = pytest.mark.anyio


class Source(ComposedComponent):
    """Sends whatever the test asks it to."""


class Collector(ComposedComponent):
    """Records every item and answers with where it went."""

    def __init__(self, name: str, config: Any = None, **kwargs: Any) -> None:
        super().__init__(name, config, **kwargs)
        self.items: list[Any] = []

    async def process_item(self, item: Any) -> dict[str, Any]:
        self.items.append(item)
        return {"status": "success", "by": self.name, "item": item}


class Gate(Collector):
    """Processes only when its gate is open: lets tests fill buffers."""

    def __init__(self, name: str, config: Any = None, **kwargs: Any) -> None:
        super().__init__(name, config, **kwargs)
        self.gate = anyio.Event()

    async def process_item(self, item: Any) -> dict[str, Any]:
        await self.gate.wait()
        return await super().process_item(item)


class Flaky(Collector):
    """Fails on items saying so; counts set-ups."""

    def __init__(self, name: str, config: Any = None, **kwargs: Any) -> None:
        super().__init__(name, config, **kwargs)
        self.setups = 0

    async def setup(self) -> None:
        self.setups += 1

    async def process_item(self, item: Any) -> dict[str, Any]:
        if item == "boom":
            raise RuntimeError("boom")
        return await super().process_item(item)


def bind(sender: str, receiver: str, stream: str = "input", buffer_size: int = 100) -> Binding:
    return Binding(
        from_component=sender, to_component=receiver, stream_name=stream, buffer_size=buffer_size
    )


async def test_request_reply_across_a_binding() -> None:
    source, sink = Source("source"), Collector("sink")
    async with System("s", [source, sink], [bind("source", "sink")]):
        reply = await source.request("input", {"n": 1})
    assert reply == {"status": "success", "by": "sink", "item": {"n": 1}}


async def test_fan_out_delivers_every_item_to_each_receiver() -> None:
    source, a, b = Source("source"), Collector("a"), Collector("b")
    async with System("s", [source, a, b], [bind("source", "a"), bind("source", "b")]):
        for i in range(5):
            await source.send("input", i)
        reply = await source.request("input", "ask")
    assert a.items == [0, 1, 2, 3, 4, "ask"]
    assert b.items == [0, 1, 2, 3, 4, "ask"]
    assert reply["by"] in {"a", "b"}


async def test_fan_in_merges_senders() -> None:
    one, two, sink = Source("one"), Source("two"), Collector("sink")
    async with System("s", [one, two, sink], [bind("one", "sink"), bind("two", "sink")]):
        await one.send("input", "from one")
        await two.send("input", "from two")
    assert sorted(sink.items) == ["from one", "from two"]


async def test_a_full_buffer_blocks_the_sender_and_loses_nothing() -> None:
    source, gate = Source("source"), Gate("gate")
    async with System("s", [source, gate], [bind("source", "gate", buffer_size=2)]):
        sent = 0
        with anyio.move_on_after(0.2):
            for i in range(10):
                await source.send("input", i)
                sent += 1
        # one item is being processed, two wait in the buffer, the fourth send blocks
        assert sent == 3
        gate.gate.set()
        for i in range(sent, 10):
            await source.send("input", i)
    assert gate.items == list(range(10))


async def test_a_buffer_full_for_the_whole_timeout_answers_unavailable() -> None:
    source, gate = Source("source"), Gate("gate")
    async with System("s", [source, gate], [bind("source", "gate", buffer_size=1)]):
        await source.send("input", "busy")
        await source.send("input", "queued")
        reply = await source.request("input", "late", timeout=0.1)
        assert reply["status"] == "error"
        assert reply["error_type"] == "unavailable"
        gate.gate.set()


async def test_no_reply_in_time_answers_timeout() -> None:
    source, gate = Source("source"), Gate("gate")
    async with System("s", [source, gate], [bind("source", "gate")]):
        reply = await source.request("input", "slow", timeout=0.1)
        assert reply["error_type"] == "timeout"
        gate.gate.set()


async def test_an_unbound_stream_name_is_a_clear_error() -> None:
    source = Source("source")
    async with System("s", [source, Collector("sink")], [bind("source", "sink")]):
        with pytest.raises(LookupError, match="no binding named 'nope'"):
            await source.request("nope", {})


async def test_a_failing_component_answers_its_caller_and_is_restarted() -> None:
    source = Source("source")
    flaky = Flaky("flaky", restart=RestartPolicy(max_restarts=2, backoff_seconds=0))
    async with System("s", [source, flaky], [bind("source", "flaky")]) as system:
        failed = await source.request("input", "boom")
        assert failed["status"] == "error"
        assert failed["error_type"] == "unavailable"
        after = await source.request("input", "fine")
        assert after["item"] == "fine"
        assert flaky.setups == 2
        assert flaky.healthy
        restarts = system.metrics.registry.get_sample_value(
            "autocoder_component_restarts_total", {"component": "flaky"}
        )
        assert restarts == 1


async def test_past_max_restarts_the_system_stops_with_component_failure() -> None:
    source = Source("source")
    flaky = Flaky("flaky", restart=RestartPolicy(max_restarts=1, backoff_seconds=0))
    replies = []
    with pytest.raises(ComponentFailure, match="flaky"):
        async with System("s", [source, flaky], [bind("source", "flaky")]) as system:
            replies.append(await source.request("input", "boom"))
            replies.append(await source.request("input", "boom"))
            replies.append(await source.request("input", "after", timeout=2))
            with anyio.fail_after(5):
                while system.running:
                    await anyio.sleep(0.01)
    assert [r["error_type"] for r in replies] == ["unavailable"] * 3


async def test_a_failure_during_shutdown_with_restarts_left_is_no_failure_of_the_system() -> None:
    class FailsLater(Gate, Flaky):
        """Fails on "boom" once its gate opens."""

    source = Source("source")
    late = FailsLater("late", restart=RestartPolicy(max_restarts=3, backoff_seconds=0))
    async with System("s", [source, late], [bind("source", "late")]) as system:
        await source.send("input", "boom")
        system.request_shutdown()
        late.gate.set()
        with anyio.fail_after(5):
            while system.running:
                await anyio.sleep(0.01)
    assert late.setups == 1  # not restarted: the system was stopping


async def test_a_setup_failure_cleans_up_the_others_and_names_the_component() -> None:
    cleaned: list[str] = []

    class Tracked(Collector):
        async def cleanup(self) -> None:
            cleaned.append(self.name)

    class Broken(Tracked):
        async def setup(self) -> None:
            raise OSError("disk on fire")

    with pytest.raises(StartupError, match=r"broken \(Broken\): disk on fire"):
        async with System("s", [Tracked("first"), Broken("broken"), Tracked("last")]):
            pass  # pragma: no cover - never reached
    assert cleaned == ["broken", "first"]


async def test_shutdown_processes_what_is_queued() -> None:
    source, gate = Source("source"), Gate("gate")
    async with System("s", [source, gate], [bind("source", "gate")]):
        for i in range(20):
            await source.send("input", i)
        gate.gate.set()
    assert gate.items == list(range(20))


async def test_the_drain_is_bounded_by_shutdown_timeout() -> None:
    source, gate = Source("source"), Gate("gate")
    with anyio.fail_after(5):
        async with System("s", [source, gate], [bind("source", "gate")], shutdown_timeout=0.2):
            await source.send("input", "never processed")
    assert gate.items == []
    assert not gate.is_set_up


async def test_chains_drain_in_order() -> None:
    class Relay(Collector):
        async def process_item(self, item: Any) -> dict[str, Any]:
            await self.send("next", item)
            return await super().process_item(item)

    source, relay, sink = Source("source"), Relay("relay"), Collector("sink")
    bindings = [bind("source", "relay"), bind("relay", "sink", stream="next")]
    async with System("s", [source, relay, sink], bindings):
        for i in range(50):
            await source.send("input", i)
    assert sink.items == list(range(50))


async def test_message_metrics_are_counted() -> None:
    source, sink = Source("source"), Collector("sink")
    async with System("s", [source, sink], [bind("source", "sink")]) as system:
        await source.request("input", {"action": "get"})
        await source.send("input", {"action": "get"})
        registry = system.metrics.registry
        assert (
            registry.get_sample_value(
                "autocoder_messages_sent_total", {"component": "source", "stream": "input"}
            )
            == 2
        )
        with anyio.fail_after(2):
            while len(sink.items) < 2:
                await anyio.sleep(0.01)
        assert (
            registry.get_sample_value(
                "autocoder_messages_received_total", {"component": "sink", "stream": "input"}
            )
            == 2
        )
        assert (
            registry.get_sample_value(
                "autocoder_processing_seconds_count", {"component": "sink", "action": "get"}
            )
            == 2
        )
        assert (
            registry.get_sample_value(
                "autocoder_component_up", {"component": "sink", "type": "Collector"}
            )
            == 1
        )


async def test_start_runs_after_the_receivers_serve_and_can_ask_them() -> None:
    class Asker(Source):
        async def start(self) -> None:
            self.answer = await self.request("input", "are you there?", timeout=2)

    asker, sink = Asker("asker"), Collector("sink")
    # The asker comes first in the blueprint; the sink still serves before it starts.
    async with System("s", [asker, sink], [bind("asker", "sink")]):
        assert asker.answer == {"status": "success", "by": "sink", "item": "are you there?"}


async def test_a_start_failure_stops_start_up_naming_the_component() -> None:
    cleaned: list[str] = []

    class Refuser(Source):
        async def start(self) -> None:
            raise StartupError("two stores serve 'tasks'")

        async def cleanup(self) -> None:
            cleaned.append(self.name)

    with pytest.raises(StartupError, match=r"^api \(Refuser\): two stores serve 'tasks'$"):
        async with System("s", [Refuser("api"), Collector("sink")], [bind("api", "sink")]):
            pass  # pragma: no cover - never reached
    assert cleaned == ["api"]


async def test_a_startup_error_from_run_is_fatal_and_not_restarted() -> None:
    class Doomed(Collector):
        runs = 0

        async def run(self) -> None:
            Doomed.runs += 1
            raise StartupError("cannot serve")

    doomed = Doomed("doomed", restart=RestartPolicy(max_restarts=3, backoff_seconds=0))
    with pytest.raises(StartupError, match=r"doomed \(Doomed\): cannot serve"):
        async with System("s", [doomed]) as system:
            with anyio.fail_after(5):
                while system.running:
                    await anyio.sleep(0.01)
    assert Doomed.runs == 1

"""Dead letters: a message whose processing raised is sent on the component's ``dead_letters``
stream, a Store bound to it keeps it, the restart policy still applies; the blueprint checks
that the stream is bound from the component.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from textwrap import dedent
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from autocoder import ComposedComponent, RestartPolicy, System
from autocoder.blueprint.loader import load_blueprint_text
from autocoder.blueprint.model import Binding
from autocoder.errors import BlueprintError

pytestmark = pytest.mark.anyio


class Source(ComposedComponent):
    """Sends whatever the test asks it to."""


class Picky(ComposedComponent):
    """Raises on an item with ``"fail": true``; answers the others."""

    async def process_item(self, item: Any) -> dict[str, Any]:
        if isinstance(item, dict) and item.get("fail"):
            raise ValueError(f"cannot take order {item.get('order')}")
        return {"status": "success", "took": item}


BLUEPRINT = """
system:
  name: dead_letters_test
  components:
    - name: source
      type: "tests.unit.test_dead_letters:Source"
    - name: picky
      type: "tests.unit.test_dead_letters:Picky"
      dead_letters: failed
      restart: {max_restarts: 3, backoff_seconds: 0}
    - name: dead_letter_store
      type: Store
      config: {storage_type: memory, table_name: dead_letters}
  bindings:
    - {from_component: source, to_component: picky, stream_name: orders}
    - {from_component: picky, to_component: dead_letter_store, stream_name: failed}
"""


async def stored(system: System, count: int) -> list[dict[str, Any]]:
    store = system.components["dead_letter_store"]
    with anyio.fail_after(10):
        while True:
            reply = await store.process_item({"action": "list"})
            if reply["count"] >= count:
                data: list[dict[str, Any]] = reply["data"]
                return data
            await anyio.sleep(0.01)


async def test_a_message_that_raised_is_kept_by_the_store_bound_to_dead_letters() -> None:
    async with System.from_text(BLUEPRINT, "<test>") as system:
        source = system.components["source"]
        failed = await source.request("orders", {"order": 7, "fail": True})
        after = await source.request("orders", {"order": 8})
        [letter] = await stored(system, 1)
        dead = system.metrics.registry.get_sample_value(
            "autocoder_dead_letters_total", {"component": "picky"}
        )
        restarts = system.metrics.registry.get_sample_value(
            "autocoder_component_restarts_total", {"component": "picky"}
        )

    assert failed["error_type"] == "unavailable"  # the caller is answered as before
    assert after == {"status": "success", "took": {"order": 8}}  # restarted, serving again
    assert restarts == 1
    assert dead == 1
    at = letter.pop("at")
    assert letter == {
        "id": "1",
        "event": "dead_letter",
        "component": "picky",
        "stream": "orders",
        "error": "ValueError: cannot take order 7",
        "message": {"order": 7, "fail": True},
        "attempts": 1,
    }
    when = datetime.fromisoformat(at)
    assert at.endswith("Z") and when.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - when) < timedelta(minutes=1)


async def test_a_sent_message_that_raised_is_a_dead_letter_too() -> None:
    async with System.from_text(BLUEPRINT, "<test>") as system:
        await system.components["source"].send("orders", {"order": 1, "fail": True})
        [letter] = await stored(system, 1)

    assert letter["message"] == {"order": 1, "fail": True}


async def test_without_dead_letters_the_failure_is_logged_and_counted() -> None:
    source = Source("source")
    picky = Picky("picky", restart=RestartPolicy(max_restarts=1, backoff_seconds=0))
    binding = Binding(from_component="source", to_component="picky", stream_name="orders")
    with capture_logs() as logs:
        async with System("s", [source, picky], [binding]) as system:
            await source.request("orders", {"order": 3, "fail": True})
            assert (await source.request("orders", {"order": 4}))["status"] == "success"
            dead = system.metrics.registry.get_sample_value(
                "autocoder_dead_letters_total", {"component": "picky"}
            )

    assert dead == 1
    [line] = [e for e in logs if e["event"] == "dead_letter"]
    assert line["log_level"] == "error"
    assert (line["component"], line["stream"], line["attempts"]) == ("picky", "orders", 1)
    assert line["error"] == "ValueError: cannot take order 3"
    assert "message" not in line  # record data stays out of the log


async def test_a_message_json_cannot_hold_is_kept_as_its_text() -> None:
    class Odd:
        def __repr__(self) -> str:
            return "<odd item>"

    async with System.from_text(BLUEPRINT, "<test>") as system:
        picky = system.components["picky"]
        sent = await picky.dead_letter(Odd(), stream="orders", error="boom")
        [letter] = await stored(system, 1)

    assert sent is True
    assert letter["message"] == "<odd item>"
    assert letter["error"] == "boom"


async def test_a_dead_letter_the_stream_cannot_take_is_logged_as_lost() -> None:
    async with System.from_text(BLUEPRINT, "<test>") as system:
        picky = system.components["picky"]
        await picky.send_streams["failed"].aclose()  # as if its receiver had stopped
        with capture_logs() as logs:
            sent = await picky.dead_letter({"order": 9}, stream="orders", error="boom")

    assert sent is False
    [line] = [e for e in logs if e["event"] == "dead_letter_lost"]
    assert line["log_level"] == "error" and line["dead_letters"] == "failed"


async def test_a_store_keeps_a_change_event_with_its_record_id_and_tenant() -> None:
    async with System.from_text(BLUEPRINT, "<test>") as system:
        store = system.components["dead_letter_store"]
        event = {"event": "updated", "collection": "tasks", "tenant": "acme", "id": "7"}
        first = await store.process_item({**event, "version": 2})
        second = await store.process_item({**event, "version": 3})
        acme = await store.process_item({"action": "list", "tenant": "acme"})
        other = await store.process_item({"action": "list"})

    assert first["status"] == second["status"] == "success"
    assert first["id"] != second["id"]  # each event is a record of its own
    assert [r["record_id"] for r in acme["data"]] == ["7", "7"]
    assert [r["version"] for r in acme["data"]] == [2, 3]
    assert other["count"] == 0  # kept under the event's tenant only


def problems_of(text: str) -> list[tuple[int, int, str]]:
    with pytest.raises(BlueprintError) as info:
        load_blueprint_text(dedent(text), "bp.yaml", environ={})
    return [(p.line, p.column, p.message) for p in info.value.problems]


def test_dead_letters_must_name_a_stream_bound_from_the_component() -> None:
    [(line, column, message)] = problems_of(
        """\
        system:
          name: bad
          components:
            - name: source
              type: "tests.unit.test_dead_letters:Source"
            - name: picky
              type: "tests.unit.test_dead_letters:Picky"
              dead_letters: failed
            - name: store
              type: Store
          bindings:
            - {from_component: source, to_component: picky, stream_name: orders}
            - {from_component: picky, to_component: store, stream_name: audit}
            - {from_component: source, to_component: store, stream_name: failed}
        """
    )
    assert (line, column) == (8, 21)
    assert "'picky' has no binding named 'failed'" in message
    assert "streams bound from it: audit" in message


def test_dead_letters_must_be_a_stream_name() -> None:
    [(line, column, message)] = problems_of(
        """\
        system:
          name: bad
          components:
            - name: picky
              type: "tests.unit.test_dead_letters:Picky"
              dead_letters: "no spaces please"
        """
    )
    assert (line, column) == (6, 21)
    assert "dead_letters" in message


def test_a_blueprint_with_bound_dead_letters_loads() -> None:
    loaded = load_blueprint_text(BLUEPRINT, "bp.yaml", environ={})
    [picky] = [c for c in loaded.blueprint.system.components if c.name == "picky"]
    assert picky.dead_letters == "failed"

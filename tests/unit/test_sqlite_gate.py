"""``SqliteGate``: a free connection is taken at once, a taken one in turn and within a time
limit, and statements in flight are waited for."""

from __future__ import annotations

import asyncio

import pytest

from autocoder.storage.sql.sqlite_gate import SqliteGate

pytestmark = pytest.mark.anyio


async def test_a_free_gate_is_taken_at_once_with_no_timer_armed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A lone writer takes the gate for every transaction: arming a time limit each time
    (a timer in the event loop) cost a fifth of such a write's time on a virtual machine."""
    armed: list[float | None] = []
    real = asyncio.timeout

    def timeout(delay: float | None) -> asyncio.Timeout:
        armed.append(delay)
        return real(delay)

    monkeypatch.setattr(asyncio, "timeout", timeout)
    gate = SqliteGate()
    taking = gate.take(timeout=1.0).__await__()
    with pytest.raises(StopIteration):  # done at its first step: it never waited
        taking.send(None)
    assert gate.taken
    assert armed == []
    gate.give()
    assert not gate.taken
    waiting = asyncio.ensure_future(gate.take(timeout=1.0))  # taken by another: limited
    await gate.take(timeout=1.0)
    assert armed == [], armed  # the ensure_future'd one has not run yet: the gate was free
    await asyncio.sleep(0)
    assert armed == [1.0]
    gate.give()
    await waiting
    gate.give()


async def test_takers_wait_in_turn_and_one_past_its_time_limit_gives_up() -> None:
    gate = SqliteGate()
    await gate.take(timeout=1.0)
    order: list[str] = []

    async def take(name: str, timeout: float) -> None:
        await gate.take(timeout)
        order.append(name)
        await asyncio.sleep(0.01)
        gate.give()

    first = asyncio.ensure_future(take("first", 5.0))
    await asyncio.sleep(0)
    with pytest.raises(TimeoutError):
        await gate.take(timeout=0.05)  # the holder keeps it past this one's limit
    second = asyncio.ensure_future(take("second", 5.0))
    await asyncio.sleep(0)
    gate.give()  # the first waiter gets it; then the second, never one that came later
    third = asyncio.ensure_future(take("third", 5.0))
    await asyncio.gather(first, second, third)
    assert order == ["first", "second", "third"]
    assert not gate.taken


async def test_a_taker_waits_for_the_statements_in_flight() -> None:
    gate = SqliteGate()
    await gate.share(timeout=1.0)
    taking = asyncio.ensure_future(gate.take(timeout=5.0))
    await asyncio.sleep(0.01)
    assert not taking.done()
    gate.unshare()
    await taking
    assert gate.taken
    gate.give()

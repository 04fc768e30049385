"""In-process request/reply through a binding to the memory Store, beside a bare anyio baseline.

Baseline: one task answers requests from a dict; each request carries one ``anyio.Event`` that
the answering task sets — the least any request/reply over a stream can cost. autocoder: a
component ``request``s a ``get`` over a binding into a memory ``Store`` inside a running
``System`` (parsing, validation, metrics, reply slot). Printed: round trips per second at 1 and 32
concurrent callers, and the ratio autocoder / baseline (target at 32 callers: at least 0.5).
"""

from __future__ import annotations

import time
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from autocoder import ComposedComponent, System
from autocoder.blueprint.model import Binding
from autocoder.components.store import Store
from autocoder.logging import configure_logging

DURATION = 1.0
ROUNDS = 3
LOOP = {"use_uvloop": True}
RECORDS = 1000


class _Caller(ComposedComponent):
    pass


async def _drive(callers: int, one_round_trip: Any) -> float:
    """Round trips per second with ``callers`` concurrent tasks, for ``DURATION`` seconds."""
    done = 0
    deadline = time.perf_counter() + DURATION

    async def caller(offset: int) -> None:
        nonlocal done
        i = offset
        while time.perf_counter() < deadline:
            await one_round_trip(i)
            i += callers
            done += 1

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for c in range(callers):
            tg.start_soon(caller, c)
    return done / (time.perf_counter() - started)


async def baseline(callers: int) -> float:
    data = {str(i): {"id": str(i), "title": f"task {i}"} for i in range(1, RECORDS + 1)}
    send, receive = anyio.create_memory_object_stream[tuple[str, anyio.Event, list[Any]]](100)

    async def server() -> None:
        async with receive:
            async for key, event, out in receive:
                out.append(data.get(key))
                event.set()

    async def round_trip(i: int, send: MemoryObjectSendStream[Any] = send) -> None:
        event = anyio.Event()
        out: list[Any] = []
        await send.send((str(i % RECORDS + 1), event, out))
        await event.wait()

    async with anyio.create_task_group() as tg:
        tg.start_soon(server)
        rate = await _drive(callers, round_trip)
        await send.aclose()
    return rate


async def through_store(callers: int) -> float:
    caller, store = _Caller("caller"), Store("store", {"storage_type": "memory"})
    binding = Binding(from_component="caller", to_component="store", stream_name="input")
    async with System("bench", [caller, store], [binding]):
        for i in range(1, RECORDS + 1):
            await store.process_item({"action": "create", "data": {"title": f"task {i}"}})

        async def round_trip(i: int) -> None:
            reply = await caller.request("input", {"action": "get", "id": str(i % RECORDS + 1)})
            assert reply["status"] == "success", reply

        return await _drive(callers, round_trip)


def main() -> None:
    configure_logging("json", "warning")
    print("event loop: uvloop (as `autocoder run` uses), both sides")
    print(f"{'callers':>8} {'baseline rt/s':>14} {'autocoder rt/s':>15} {'ratio':>6}")
    for callers in (1, 32):
        # Alternate the two, and keep each one's best round: noise only ever slows a round.
        base = ours = 0.0
        for _ in range(ROUNDS):
            base = max(base, anyio.run(baseline, callers, backend_options=LOOP))
            ours = max(ours, anyio.run(through_store, callers, backend_options=LOOP))
        print(f"{callers:>8} {base:>14,.0f} {ours:>15,.0f} {ours / base:>6.2f}", flush=True)

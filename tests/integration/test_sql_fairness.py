"""More callers than connections: every caller is served in turn, none fails while others are.

32 tasks call a Store's ``process_item`` (the Python API, no HTTP queue in front) on a pool of
4 for a few seconds. Connections must go to waiters first come, first served: each caller is
served about as often as the others, and no call ends ``unavailable`` ("connection pool
exhausted") because the callers releasing connections kept taking them back.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import pytest

from autocoder.components.store import Store
from tests.conformance.backends import drop_table, unique_table

pytestmark = pytest.mark.anyio

CALLERS = 32
POOL = 4
SECONDS = 1.0  # how long the callers run (the outcome is asserted, not the time); an unfair
# pool starves its waiters from the first round, so one second shows it as well as three
#: ... and on, up to LONGEST seconds, until this many calls were made in all: on a machine
#: that stalls (a shared host taking its cores away), one second may hold only a call or two
#: per caller, fair or not.
CALLS = CALLERS * 10
LONGEST = 15.0


async def hammer(store: Any, message: dict[str, Any]) -> tuple[list[int], Counter[str]]:
    """How many calls each caller got served, and every reply's status, over SECONDS (or
    longer, until CALLS were made)."""
    served = [0] * CALLERS
    statuses: Counter[str] = Counter()
    start = time.monotonic()

    def going() -> bool:
        elapsed = time.monotonic() - start
        return elapsed < SECONDS or (elapsed < LONGEST and statuses.total() < CALLS)

    async def caller(n: int) -> None:
        while going():
            reply = await store.process_item(dict(message))
            statuses[str(reply.get("error_type", reply["status"]))] += 1
            if reply["status"] == "success":
                served[n] += 1

    await asyncio.gather(*(caller(n) for n in range(CALLERS)))
    return served, statuses


def assert_fair(served: list[int], statuses: Counter[str]) -> None:
    assert set(statuses) == {"success"}, statuses  # nobody failed while others were served
    # First come, first served: each caller got a share close to the others'. (Unfair pools
    # serve 4 callers thousands of times and starve the other 28 until they time out.)
    assert min(served) >= 5, served
    assert min(served) * 3 >= max(served), served


async def test_a_store_serves_every_caller_in_turn(backend_url: str) -> None:
    table = unique_table()
    config = {
        "storage_type": "database",
        "database_url": backend_url,
        "table_name": table,
        "pool_max_size": POOL,
        "pool_timeout": 5.0,
    }
    store = Store("store", config)
    await store.setup()
    try:
        created = await store.process_item({"action": "create", "data": {"title": "a"}})
        served, statuses = await hammer(store, {"action": "get", "id": created["id"]})
    finally:
        await store.cleanup()
        if not backend_url.startswith("sqlite"):
            await drop_table(backend_url, table)
    assert_fair(served, statuses)

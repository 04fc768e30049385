"""Change feeds: one writer at full speed with 100 watchers on its collection, against the same
writer with none, in the same run.

For each backend (memory, an SQLite file twice, PostgreSQL when reachable) a Store runs (its
change feeds too); one task creates records back to back for ``SECONDS`` through
``process_item``, with no watcher, then with ``WATCHERS`` tasks each iterating
``store.watch()``, alternated ``ROUNDS`` times. Printed: the best round's writes/s of both,
their ratio (target at least 0.9), and the p50 and p99, over every delivery of every round with
watchers, of the time from the write being sent (so its commit is counted too) to the watcher
getting it (target: p99 of commit to delivery under 50 ms). ``BENCH_WATCH_BACKENDS=sqlite``
picks backends. PostgreSQL comes from ``AUTOCODER_TEST_POSTGRESQL_URL``; unreachable, it is
skipped.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from typing import Any

import anyio
import anyio.lowlevel

from autocoder.components.store import Store
from autocoder.errors import DatabaseConnectionError, WatcherLagged
from autocoder.storage.sql.database import Database

SECONDS = float(os.environ.get("BENCH_WATCH_SECONDS", "2"))
ROUNDS = 3
WATCHERS = 100
POSTGRESQL_URL = os.environ.get(
    "AUTOCODER_TEST_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


async def _run(config: dict[str, Any], watchers: int) -> tuple[float, list[float], int]:
    store = Store("bench", config)
    await store.setup()
    # When each write was sent: the delay to a delivery counts the commit itself too (an upper
    # bound of commit to delivery; another process's commits may be read before this one's
    # own code hears of them, so the commit's own moment is not known here).
    sent: list[float] = []
    delays: list[float] = []
    lagged: list[int] = []
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(store.run)
            while not store.feeds.running:
                await anyio.sleep(0.001)
            start = (await store.process_item({"action": "list", "limit": 0}))["seq"]
            done = anyio.Event()

            async def watcher() -> None:
                after = start
                while True:  # a watcher cut off for lagging resumes, as a client would
                    subscription = await store.open_watch(since=after)
                    try:
                        while True:
                            event = await subscription.next()
                            if event is None:
                                return
                            after = event["seq"]
                            delays.append(time.perf_counter() - sent[event["data"]["n"]])
                    except WatcherLagged:
                        lagged.append(after)
                    finally:
                        subscription.close()

            async with anyio.create_task_group() as watching:
                for _ in range(watchers):
                    watching.start_soon(watcher)
                await anyio.sleep(0.2)
                writes = 0
                began = time.perf_counter()
                while time.perf_counter() - began < SECONDS:
                    sent.append(time.perf_counter())
                    reply = await store.process_item({"action": "create", "data": {"n": writes}})
                    assert reply["status"] == "success", reply
                    writes += 1
                    await (
                        anyio.lowlevel.checkpoint()
                    )  # a writer lets others run, as a request would
                elapsed = time.perf_counter() - began
                await anyio.sleep(0.5)  # the last deliveries
                watching.cancel_scope.cancel()
            done.set()
            await store.stop_accepting()
    finally:
        await store.cleanup()
    return writes / elapsed, delays, len(lagged)


def _ms(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0] * 1000
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] * 1000


async def _postgresql_table() -> tuple[str, str] | None:
    database = Database(POSTGRESQL_URL, min_size=1, max_size=1, timeout=3)
    try:
        await database.connect()
    except DatabaseConnectionError as exc:
        print(f"postgresql: skipped ({exc})")
        return None
    await database.disconnect()
    return POSTGRESQL_URL, f"bench_watch_{uuid.uuid4().hex[:12]}"


async def _drop(url: str, table: str) -> None:
    database = Database(url, min_size=1, max_size=1)
    await database.connect()
    try:
        await database.execute(f'DROP TABLE IF EXISTS "{table}"')
        await database.execute("DELETE FROM autocoder_changes WHERE collection = ?", table)
        await database.execute("DELETE FROM autocoder_changes_seq WHERE collection = ?", table)
    finally:
        await database.disconnect()


async def main() -> None:
    print(
        f"one writer, {ROUNDS} alternated rounds of {SECONDS:.0f} s, best of each; "
        f"{WATCHERS} watchers against none; delay = write sent to the watcher"
    )
    print(
        f"{'backend':>11} {'none w/s':>9} {'100 w/s':>9} {'ratio':>6} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'deliveries':>10} {'cut off':>7}"
    )
    with tempfile.TemporaryDirectory() as folder:
        backends: list[tuple[str, dict[str, Any], tuple[str, str] | None]] = [
            ("memory", {"storage_type": "memory"}, None),
        ]
        for run in ("a", "b"):
            backends.append(
                (
                    "sqlite",
                    {
                        "storage_type": "database",
                        "database_url": f"sqlite:///{folder}/watch_{run}.db",
                    },
                    None,
                )
            )
        target = await _postgresql_table()
        if target is not None:
            url, table = target
            config = {"storage_type": "database", "database_url": url, "table_name": table}
            backends.append(("postgresql", config, target))
        only = os.environ.get("BENCH_WATCH_BACKENDS")
        for name, config, cleanup in backends:
            if only and name not in only.split(","):
                if cleanup is not None:
                    await _drop(*cleanup)
                continue
            try:
                # Alternated, each side's best round kept: the machine is shared and noisy.
                alone, watched, delays, lags = 0.0, 0.0, [], 0
                for _ in range(ROUNDS):
                    rate, _, _ = await _run(config, 0)
                    alone = max(alone, rate)
                    rate, round_delays, round_lags = await _run(config, WATCHERS)
                    watched = max(watched, rate)
                    delays += round_delays
                    lags += round_lags
            finally:
                if cleanup is not None:
                    await _drop(*cleanup)
            print(
                f"{name:>11} {alone:9.0f} {watched:9.0f} {watched / alone:6.2f} "
                f"{_ms(delays, 50):7.2f} {_ms(delays, 99):7.2f} {len(delays):10d} {lags:7d}",
                flush=True,
            )

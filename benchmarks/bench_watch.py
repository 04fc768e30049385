"""Change feeds: one writer at full speed with 100 watchers on its collection, against the same
writer with none, in the same run, in two cases.

- HTTP (the case of a deployment, where watchers are clients): a Store behind a
  FastAPIEndpoint on a free port, in this process; one task creates records back to back
  through the Store's ``process_item`` (the way a request reaches it) for ``SECONDS``, with no
  watcher, then with ``WATCHERS`` SSE clients reading ``GET /{collection}?watch=true`` from
  another process (``benchmarks/watch_clients.py``, raw sockets), alternated ``ROUNDS`` times.
  The clients record when each event arrived (``time.monotonic()``, CLOCK_MONOTONIC, one clock
  for every process of the machine); the delay is from the write being sent here (so its
  commit is counted too) to a client reading it.
- in-process: the same writer with ``WATCHERS`` tasks of this process iterating
  ``store.watch()``, alternated with none: here the watchers' own consumption of every event
  runs in the writer's event loop, so it measures them as much as the feed.

Printed per case: the best round's writes/s of both sides, their ratio (target at least 0.9),
and the p50 and p99, over every delivery of every round with watchers, from the write being
sent to the watcher getting it (target: p99 of commit to delivery under 50 ms), the number of
deliveries, those that never came (each watcher must get every write; one missing counts as an
infinite delay) and how many times a watcher was cut off for lagging. The HTTP case also
prints a ceiling beside its ratio, from a baseline measured in the same run
(``benchmarks/loopback_floor.py``: what a byte written into loopback sockets costs the
sender's CPU here, with no server above the socket): ``1 / (1 + alone * bytes * floor)``, the
ratio a writer bound by its own CPU would reach if handing the watchers' bytes (``bytes`` a
write, all watchers together, as they read them) to the kernel were the feed's only cost.
A writer that waits on its database can overlap that cost and beat the ceiling; one that
does not, the memory store's, cannot.
``BENCH_WATCH_BACKENDS=sqlite`` picks backends, ``BENCH_WATCH_CASES=http`` cases. PostgreSQL
comes from ``AUTOCODER_TEST_POSTGRESQL_URL``, MariaDB from ``AUTOCODER_TEST_MYSQL_URL``;
either, unreachable, is skipped.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
import uuid
from typing import Any, NamedTuple

import anyio
import anyio.lowlevel

from autocoder.components.store import Store
from autocoder.errors import DatabaseConnectionError, WatcherLagged
from autocoder.logging import configure_logging
from autocoder.storage.sql.database import Database
from autocoder.storage.sql.dialects import quote
from autocoder.system import System

SECONDS = float(os.environ.get("BENCH_WATCH_SECONDS", "2"))
ROUNDS = 3
WATCHERS = 100
SERVERS = {
    "postgresql": os.environ.get(
        "AUTOCODER_TEST_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/test"
    ),
    "mariadb": os.environ.get("AUTOCODER_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
}


class Round(NamedTuple):
    """What one round measured. A record creation's number ``n`` is its position in the
    round: seq ``start + 1 + n`` (only the writer writes to the collection)."""

    #: Writes a second.
    rate: float
    #: The delay of every delivery, in seconds.
    delays: list[float]
    #: How many times a watcher was cut off for lagging.
    cut_off: int
    #: Deliveries that never came (each watcher should get every write; one missing counts
    #: as an infinite delay).
    missing: int
    #: The bytes the watchers read (HTTP; 0 in process).
    received: int


def _blueprint(config: dict[str, Any]) -> str:
    endpoint = {"name": "api", "type": "FastAPIEndpoint", "config": {"port": 0}}
    store = {"name": "store", "type": "Store", "config": config}
    binding = {"from_component": "api", "to_component": "store", "stream_name": "input"}
    system = {"name": "bench_watch", "components": [endpoint, store], "bindings": [binding]}
    return json.dumps({"system": system})  # JSON is YAML


async def _write_for(store: Store, sent: list[float], clock: Any) -> tuple[int, float]:
    """Create records back to back for ``SECONDS``, noting in ``sent`` when each was sent (by
    ``clock``, the one its watchers stamp deliveries with); the writes and the seconds taken."""
    writes = 0
    began = time.perf_counter()
    while time.perf_counter() - began < SECONDS:
        sent.append(clock())
        reply = await store.process_item({"action": "create", "data": {"n": writes}})
        assert reply["status"] == "success", reply
        writes += 1
        await anyio.lowlevel.checkpoint()  # a writer lets others run, as a request would
    return writes, time.perf_counter() - began


async def _run_http(config: dict[str, Any], watchers: int) -> Round:
    async with System.from_text(_blueprint(config), "<bench_watch>") as system:
        store: Store = system.components["store"]  # type: ignore[assignment]
        port: int = system.components["api"].port  # type: ignore[attr-defined]
        start = (await store.process_item({"action": "list", "limit": 0}))["seq"]
        clients = None
        if watchers:
            command = [
                sys.executable,
                "-m",
                "benchmarks.watch_clients",
                "127.0.0.1",
                str(port),
                f"/{config['table_name']}",
                str(start),
                str(watchers),
            ]
            clients = await anyio.open_process(command, stderr=None)  # its errors shown
            assert clients.stdout is not None and clients.stdin is not None
            lines = clients.stdout
            buffered = b""
            while b"\n" not in buffered:  # "ready": every watcher's response began
                buffered += await lines.receive()
        sent: list[float] = []
        writes, elapsed = await _write_for(store, sent, time.monotonic)  # the clients' clock
        delays: list[float] = []
        resumed = missing = bytes_read = 0
        if clients is not None:
            assert clients.stdout is not None and clients.stdin is not None
            await anyio.sleep(0.5)  # the last deliveries
            await clients.stdin.send(b"stop\n")
            while not buffered.endswith(b"\n") or buffered.count(b"\n") < 2:
                buffered += await clients.stdout.receive()
            await clients.wait()
            result = json.loads(buffered.split(b"\n")[1])
            for low, high, received in result["reads"]:
                delays += [received - sent[seq - start - 1] for seq in range(low, high + 1)]
            resumed = result["resumed"]
            missing = sum(start + writes - last for last in result["last"])
            bytes_read = result["bytes"]
    return Round(writes / elapsed, delays, resumed, missing, bytes_read)


async def _run_in_process(config: dict[str, Any], watchers: int) -> Round:
    store = Store("bench", config)
    await store.setup()
    # When each write was sent: the delay to a delivery counts the commit itself too (an upper
    # bound of commit to delivery; another process's commits may be read before this one's
    # own code hears of them, so the commit's own moment is not known here).
    sent: list[float] = []
    delays: list[float] = []
    lagged: list[int] = []
    reached: list[int] = []  # the last seq of each watcher
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(store.run)
            while not store.feeds.running:
                await anyio.sleep(0.001)
            start = (await store.process_item({"action": "list", "limit": 0}))["seq"]
            done = anyio.Event()

            async def watcher() -> None:
                index = len(reached)
                reached.append(start)
                after = start
                while True:  # a watcher cut off for lagging resumes, as a client would
                    subscription = await store.open_watch(since=after)
                    try:
                        while True:
                            event = await subscription.next()
                            if event is None:
                                return
                            after = reached[index] = event["seq"]
                            delays.append(time.perf_counter() - sent[event["data"]["n"]])
                    except WatcherLagged:
                        lagged.append(after)
                    finally:
                        subscription.close()

            async with anyio.create_task_group() as watching:
                for _ in range(watchers):
                    watching.start_soon(watcher)
                await anyio.sleep(0.2)
                writes, elapsed = await _write_for(store, sent, time.perf_counter)
                await anyio.sleep(0.5)  # the last deliveries
                watching.cancel_scope.cancel()
            done.set()
            await store.stop_accepting()
    finally:
        await store.cleanup()
    missing = sum(start + writes - r for r in reached)
    return Round(writes / elapsed, delays, len(lagged), missing, 0)


def _ms(values: list[float], q: float) -> float:
    """The ``q``th percentile (nearest rank) in milliseconds."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] * 1000


async def _server_table(name: str, url: str) -> tuple[str, str] | None:
    """The URL and a new table name on a database server; None (said) when it is away."""
    database = Database(url, min_size=1, max_size=1, timeout=3)
    try:
        await database.connect()
    except DatabaseConnectionError as exc:
        print(f"{name}: skipped ({exc})")
        return None
    await database.disconnect()
    return url, f"bench_watch_{uuid.uuid4().hex[:12]}"


async def _drop(url: str, table: str) -> None:
    database = Database(url, min_size=1, max_size=1)
    await database.connect()
    try:
        await database.execute(f"DROP TABLE IF EXISTS {quote(table, database.dialect)}")
        await database.execute("DELETE FROM autocoder_changes WHERE collection = ?", table)
        await database.execute("DELETE FROM autocoder_changes_seq WHERE collection = ?", table)
    finally:
        await database.disconnect()


CASES: dict[str, tuple[str, Any]] = {
    "http": ("HTTP: 100 SSE clients in another process", _run_http),
    "in-process": ("in-process: 100 watcher tasks in the writer's event loop", _run_in_process),
}


async def _measure(name: str, config: dict[str, Any], run: Any, floor: float | None) -> None:
    """Print one backend's line; ``floor``: the sender's CPU seconds per byte on loopback
    (``loopback_floor``), for the HTTP case's ceiling."""
    # Alternated, each side's best round kept: the machine is shared and noisy.
    alone, watched, delays, lags, missing, received = 0.0, 0.0, [], 0, 0, 0
    for _ in range(ROUNDS):
        alone = max(alone, (await run(config, 0)).rate)
        measured: Round = await run(config, WATCHERS)
        watched = max(watched, measured.rate)
        delays += measured.delays
        lags += measured.cut_off
        missing += measured.missing
        received += measured.received
    ceiling = "-"
    if floor is not None and delays:
        # What every write costs in bytes handed to the watchers' sockets, beside the time a
        # write takes alone: the best ratio a writer bound by its own CPU could reach here.
        per_write = WATCHERS * received / len(delays) * floor
        ceiling = f"{1 / (1 + alone * per_write):.2f}"
    delays += [math.inf] * missing
    print(
        f"{name:>11} {alone:9.0f} {watched:9.0f} {watched / alone:6.2f} {ceiling:>7} "
        f"{_ms(delays, 50):7.2f} {_ms(delays, 99):7.2f} {len(delays) - missing:10d} "
        f"{missing:7d} {lags:7d}",
        flush=True,
    )


async def _loopback_floor() -> float:
    """The sender's CPU seconds per byte into loopback sockets (``loopback_floor``), measured
    in a process of its own."""
    command = [sys.executable, "-m", "benchmarks.loopback_floor", "1"]
    done = await anyio.run_process(command)
    return float(done.stdout)


async def main() -> None:
    configure_logging("json", "warning")  # not a line per request on the bench's output
    print(
        f"one writer, {ROUNDS} alternated rounds of {SECONDS:g} s, best of each; "
        f"{WATCHERS} watchers against none; delay = write sent to the watcher; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    collection = f"bench_watch_{uuid.uuid4().hex[:12]}"
    with tempfile.TemporaryDirectory() as folder:
        backends: list[tuple[str, dict[str, Any], tuple[str, str] | None]] = [
            ("memory", {"storage_type": "memory", "table_name": collection}, None),
        ]
        for run in ("a", "b"):
            url = f"sqlite:///{folder}/watch_{run}.db"
            config = {"storage_type": "database", "database_url": url, "table_name": collection}
            backends.append(("sqlite", config, None))
        targets = []
        for name, server in SERVERS.items():
            target = await _server_table(name, server)
            if target is not None:
                url, table = target
                config = {"storage_type": "database", "database_url": url, "table_name": table}
                backends.append((name, config, target))
                targets.append(target)
        only = os.environ.get("BENCH_WATCH_BACKENDS")
        cases = os.environ.get("BENCH_WATCH_CASES", ",".join(CASES)).split(",")
        try:
            for case in cases:
                title, run = CASES[case]
                print(f"\n{title}")
                floor = None
                if case == "http":
                    floor = await _loopback_floor()
                    print(
                        f"loopback: {floor * 1e9:.2f} ns of the sender's CPU a byte "
                        "(benchmarks/loopback_floor.py); ceiling = the best ratio a writer "
                        "bound by its own CPU could reach with what its watchers read"
                    )
                print(
                    f"{'backend':>11} {'none w/s':>9} {'100 w/s':>9} {'ratio':>6} {'ceiling':>7} "
                    f"{'p50 ms':>7} {'p99 ms':>7} {'deliveries':>10} {'missing':>7} {'cut off':>7}"
                )
                for name, config, _ in backends:
                    if not only or name in only.split(","):
                        await _measure(name, config, run, floor)
        finally:
            for target in targets:
                await _drop(*target)
        print(f"load average after: {os.getloadavg()[0]:.1f}")

"""SqlDocumentBackend beside the raw driver running the same SQL, on PostgreSQL, MariaDB, SQLite.

For each database: get, create and update at 32 concurrent callers (ops/s, the backend's
ratio to the raw driver, and each side's p99 and maximum latency per call), then a
10,000-record batch create through ``create_many`` against the driver's fastest bulk path
(asyncpg ``copy_records_to_table``, aiomysql ``executemany`` in a transaction, aiosqlite
``executemany`` in one transaction). The raw side uses the same driver settings as the
backend: a pool of the same size opened in full at start, asyncpg's ``command_timeout`` and no
reset query on release, aiomysql in autocommit with utf8mb4, SQLite in WAL mode with
``synchronous=NORMAL`` and the same busy timeout. It has its own table of the same layout and
encodes/decodes JSON with orjson as the backend does. The target column says whether a case
meets its goal (get/create/update at least 0.8 of the raw driver, bulk 0.5, and a p99 at most
three times the raw p99 plus 5 ms). Servers come from ``AUTOCODER_TEST_POSTGRESQL_URL`` /
``AUTOCODER_TEST_MYSQL_URL``; an unreachable one is reported and skipped.

Run: ``python -m benchmarks`` (all benchmarks) or ``python -m benchmarks.bench_database``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiomysql
import aiosqlite
import asyncpg
import orjson

from autocoder.errors import DatabaseConnectionError
from autocoder.storage.documents.backend import SqlDocumentBackend
from autocoder.storage.sql.dialects import Dialect, quote
from benchmarks import group_commit
from benchmarks.machine_cpu import Usage, snapshot

CALLERS = 32
SECONDS = 0.5  # per timed run; each case pairs raw and backend runs, 7 pairs
WARM_UP = 200  # calls each side makes before a case is timed
BULK = 10_000
POOL = 4
SERVERS = {
    "postgresql": os.environ.get(
        "AUTOCODER_TEST_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/test"
    ),
    "mysql": os.environ.get("AUTOCODER_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
}
DOC = {"title": "benchmark task", "done": False, "priority": 3, "tags": ["a", "b"]}


@dataclass
class Side:
    """One side's runs of a case: ops/s of each run, the latency of every call (seconds),
    and the machine's CPU over the runs."""

    rates: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def p99(self) -> float:
        return self.quantile(0.99)

    @property
    def max(self) -> float:
        return max(self.latencies)


async def compare(
    raw: Callable[[int], Awaitable[Any]],
    ours: Callable[[int], Awaitable[Any]],
    rounds: int = 7,
    callers: int = CALLERS,
) -> tuple[Side, Side]:
    """Each side's median ops/s over ``rounds`` paired runs (the order swapped every round),
    and the latency of every timed call.

    Machine noise (the servers share the cores) moves single runs by ±20%: the median of
    paired runs is steadier than the best run of each side, and favours neither.
    """
    raw_side, our_side = Side(), Side()
    await rate(raw, Side(), WARM_UP, callers)  # untimed: pools full, statements prepared
    await rate(ours, Side(), WARM_UP, callers)
    for n in range(rounds):
        if n % 2:
            await rate(ours, our_side, callers=callers)
            await rate(raw, raw_side, callers=callers)
        else:
            await rate(raw, raw_side, callers=callers)
            await rate(ours, our_side, callers=callers)
    return raw_side, our_side


async def compare_once(
    raw: Callable[[int], Awaitable[Any]], ours: Callable[[int], Awaitable[Any]]
) -> tuple[Side, Side]:
    """One call each side, alternating twice; the best run counts."""
    raw_side, our_side = Side(), Side()
    for _ in range(2):
        await rate(raw, raw_side, 1)
        await rate(ours, our_side, 1)
    raw_side.rates = [max(raw_side.rates)]
    our_side.rates = [max(our_side.rates)]
    return raw_side, our_side


async def rate(
    operation: Callable[[int], Awaitable[Any]],
    side: Side,
    ops: int | None = None,
    callers: int = CALLERS,
) -> None:
    """Run ``operation(i)`` from ``callers`` tasks; note ops/s and each call's latency in
    ``side``.

    With ``ops`` given, exactly that many calls; else as many as fit in SECONDS.
    """
    counter = iter(range(ops if ops is not None else 10**9))
    callers = min(callers, ops or callers)
    done = 0
    latencies = side.latencies
    clock = time.perf_counter
    before = snapshot()
    start = clock()
    deadline = start + SECONDS

    async def caller() -> None:
        nonlocal done
        for i in counter:
            began = clock()
            await operation(i)
            ended = clock()
            latencies.append(ended - began)
            done += 1
            if ops is None and ended > deadline:
                return

    await asyncio.gather(*(caller() for _ in range(callers)))
    side.rates.append(done / (clock() - start))
    side.usage.add(before, snapshot(), done)


#: The Store's default ``command_timeout`` (seconds), given to both PostgreSQL pools alike.
COMMAND_TIMEOUT = 30.0


async def _no_reset(connection: Any) -> None:
    """asyncpg pool ``reset`` that runs nothing (the statements here leave no session state)."""


class Raw:
    """The same statements as the backend, straight on the driver (the baseline)."""

    def __init__(self, backend: SqlDocumentBackend) -> None:
        self.backend = backend
        self.sql = backend.statements
        self.table = backend.table_name
        self.pool: Any = None
        self.conn: Any = None

    async def open(self, url: str) -> None:
        db = self.backend.db
        if db.dialect == "postgresql":
            # The backend's pool configuration: no reset query on release (the backend runs
            # none after plain statements either, and asyncpg's default one is a second round
            # trip per operation), and the same command_timeout, asyncpg's bound on every
            # statement (a timer each), which issue 3 requires of any operation.
            self.pool = await asyncpg.create_pool(
                url,
                min_size=POOL,
                max_size=POOL,
                reset=_no_reset,
                command_timeout=COMMAND_TIMEOUT,
            )
        elif db.dialect == "mysql":
            parts = urlsplit(url)
            self.pool = await aiomysql.create_pool(
                host=parts.hostname,
                port=parts.port or 3306,
                user=parts.username,
                password=parts.password or "",
                db=parts.path.lstrip("/"),
                autocommit=True,
                minsize=POOL,
                maxsize=POOL,
                charset="utf8mb4",
            )
        else:
            self.conn = await aiosqlite.connect(db.host_port, isolation_level=None)
            await self.conn.execute(f"PRAGMA busy_timeout={int(db.timeout * 1000)}")
            await self.conn.execute("PRAGMA journal_mode=WAL")
            await self.conn.execute("PRAGMA synchronous=NORMAL")

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()
        elif self.backend.dialect == "postgresql":
            await self.pool.close()
        else:
            self.pool.close()
            await self.pool.wait_closed()

    async def get(self, record_id: str) -> Any:
        d = self.backend.dialect
        if d == "postgresql":
            async with self.pool.acquire() as c:
                row = await c.fetchrow(self.sql.get, "", record_id)
        elif d == "mysql":
            async with self.pool.acquire() as c, c.cursor() as cur:
                await cur.execute(self.sql.get, ("", record_id))
                row = await cur.fetchone()
        else:
            row = (await self.conn.execute_fetchall(self.sql.get, ("", record_id)))[0]
        return orjson.loads(row[0])

    async def create(self) -> Any:
        d, text = self.backend.dialect, orjson.dumps(DOC).decode()
        if d == "postgresql":
            async with self.pool.acquire() as c:
                return await c.fetchval(self.sql.insert_generated, "", text)
        if d == "mysql":
            async with self.pool.acquire() as c, c.cursor() as cur:
                await cur.execute(self.sql.reserve, (1, self.table))
                await cur.execute(self.sql.insert, ("", str(cur.lastrowid), text))
                return None
        return await self.conn.execute_fetchall(self.sql.insert_generated, ("", text, 1))

    async def update(self, record_id: str, n: int) -> Any:
        d = self.backend.dialect
        if d == "postgresql":
            async with self.pool.acquire() as c:
                patch = orjson.dumps({"n": n}).decode()
                row = await c.fetchrow(self.sql.merge, "", record_id, patch, None)
                return orjson.loads(row[0])
        if d == "mysql":
            async with self.pool.acquire() as c, c.cursor() as cur:
                await cur.execute(self.sql.get_for_update, ("", record_id))
                text, version = await cur.fetchone()
                new = orjson.dumps({**orjson.loads(text), "n": n}).decode()
                return await cur.execute(self.sql.merge, (new, "", record_id, version))
        rows = await self.conn.execute_fetchall(self.sql.get, ("", record_id))
        new = orjson.dumps({**orjson.loads(rows[0][0]), "n": n}).decode()
        return await self.conn.execute_fetchall(self.sql.merge, (new, "", record_id, rows[0][1]))

    async def bulk(self, count: int) -> None:
        d, text = self.backend.dialect, orjson.dumps(DOC).decode()
        ids = [uuid.uuid4().hex for _ in range(count)]
        if d == "postgresql":
            async with self.pool.acquire() as c:
                await c.copy_records_to_table(
                    self.table,
                    records=[("", i, text, 1) for i in ids],
                    columns=["tenant", "id", "data", "version"],
                )
        elif d == "mysql":
            async with self.pool.acquire() as c:
                await c.begin()
                async with c.cursor() as cur:
                    await cur.executemany(self.sql.bulk, [("", i, text) for i in ids])
                await c.commit()
        else:
            now = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
            sql = (
                f"INSERT INTO {quote(self.table, 'sqlite')} (tenant, id, data, version, "
                f"created_at, updated_at) VALUES (?, ?, ?, 1, {now}, {now})"
            )
            await self.conn.execute("BEGIN")
            await self.conn.executemany(sql, [("", i, text) for i in ids])
            await self.conn.execute("COMMIT")


Result = tuple[str, Side, Side, int]  # case, raw side, backend side, records per call


async def bench(dialect: Dialect, url: str) -> list[Result]:
    tables = [f"bench_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    # The same pool on both sides: POOL connections opened at start (min = max).
    ours = SqlDocumentBackend(
        url,
        table_name=tables[0],
        pool_min_size=POOL,
        pool_max_size=POOL,
        command_timeout=COMMAND_TIMEOUT,
    )
    theirs = SqlDocumentBackend(url, table_name=tables[1], pool_max_size=POOL)
    await ours.connect()
    await theirs.connect()
    raw = Raw(theirs)
    await raw.open(url)
    results: list[Result] = []
    try:
        t = ours.table_name
        created = await compare(
            lambda i: raw.create(), lambda i: ours.create(t, "", None, dict(DOC))
        )
        results.append(("create", *created, 1))
        ids = [r.id for r in await ours.list(t, "", _first(500))]
        raw_ids = [r.id for r in await theirs.list(theirs.table_name, "", _first(500))]
        got = await compare(
            lambda i: raw.get(raw_ids[i % 500]), lambda i: ours.get(t, "", ids[i % 500])
        )
        results.append(("get", *got, 1))

        async def update(i: int) -> Any:
            return await ours.write(
                t, "", ids[i % 500], {"n": i}, merge=True, expected_version=None
            )

        updated = await compare(lambda i: raw.update(raw_ids[i % 500], i), update)
        results.append(("update", *updated, 1))

        async def bulk_raw(_: int) -> None:
            await raw.bulk(BULK)

        async def bulk_ours(_: int) -> None:
            await ours.create_many(t, "", [(None, dict(DOC)) for _ in range(BULK)])

        results.append((f"bulk {BULK}", *await compare_once(bulk_raw, bulk_ours), BULK))
    finally:
        await raw.close()
        for backend in (ours, theirs):
            if dialect != "sqlite":
                await backend.db.execute(f"DROP TABLE {quote(backend.table_name, dialect)}")
                if dialect == "mysql":
                    await backend.db.execute(
                        "DELETE FROM autocoder_id_counters WHERE table_name = ?",
                        backend.table_name,
                    )
                for history in ("autocoder_changes", "autocoder_changes_seq"):
                    await backend.db.execute(
                        f"DELETE FROM {history} WHERE collection = ?", backend.table_name
                    )
            await backend.close()
    return results


def _first(limit: int) -> Any:
    from autocoder.storage.backend import ListQuery

    return ListQuery(limit=limit)


#: Targets: backend ops/s at least this share of the raw driver's.
MIN_RATIO = {"get": 0.8, "create": 0.8, "update": 0.8, f"bulk {BULK}": 0.5}


def verdict(case: str, raw: Side, ours: Side) -> str:
    """``ok``, or what misses its target (ratio; p99 at most 3 times the raw p99 + 5 ms)."""
    misses = []
    if ours.rate < MIN_RATIO[case] * raw.rate:
        misses.append(f"ratio<{MIN_RATIO[case]}")
    if ours.p99 > 3 * raw.p99 + 0.005:
        misses.append("p99")
    return ", ".join(misses) or "ok"


async def main() -> None:
    """The storage cases, then group commit's (``benchmarks.group_commit``)."""
    if os.environ.get("BENCH_DATABASE_PART", "all") in ("all", "storage"):
        await storage_main()
    if os.environ.get("BENCH_DATABASE_PART", "all") in ("all", "group-commit"):
        await group_commit_main()


async def group_commit_main() -> None:
    """Print, per case, ops/s of the baseline and of the Store, their ratio, and each side's
    p99 and maximum latency (ms); then what each side's writes cost the whole machine in CPU
    (µs a write), how busy the machine was during the Store's runs, the ceiling (the ratio
    the Store would reach with every core spent at its CPU a write), the Store's own
    process's CPU a write (µs) and its one-core bound (the ratio it would reach with its
    event loop's thread never idle)."""
    print(
        f"\ngroup commit: Store on its defaults (pool 4, max_batch_size 100) beside the raw "
        f"driver (pool {group_commit.RAW_POOL}) at {CALLERS} callers, and beside the Store "
        f"with max_batch_size 1 at 1 caller; {OS_CORES} cores"
    )
    print(
        f"{'database':<11} {'case':<11} {'baseline':>10} {'store':>10} {'ratio':>6} "
        f"{'base p99':>8} {'p99':>8} {'base max':>8} {'max':>8} "
        f"{'base cpu':>8} {'cpu':>6} {'busy':>5} {'ceiling':>7} {'own':>5} {'1 core':>6}  target"
    )
    with tempfile.TemporaryDirectory() as folder:
        targets = dict(SERVERS, sqlite=f"sqlite:///{folder}/bench.db")
        for dialect in ("postgresql", "mysql", "sqlite"):
            try:
                results = await group_commit.bench(dialect, targets[dialect], compare)
            except DatabaseConnectionError as exc:
                print(f"{dialect:<11} skipped: {exc}")
                continue
            for case, raw, ours, _ in results:
                print(
                    f"{dialect:<11} {case:<11} {raw.rate:>10.0f} {ours.rate:>10.0f} "
                    f"{ours.rate / raw.rate:>6.2f} {raw.p99 * 1000:>8.1f} {ours.p99 * 1000:>8.1f} "
                    f"{raw.max * 1000:>8.1f} {ours.max * 1000:>8.1f} "
                    f"{machine_cpu(raw, ours)}  {group_commit.verdict(case, raw, ours)}",
                    flush=True,
                )


def machine_cpu(raw: Side, ours: Side) -> str:
    """Each side's machine CPU a write (µs), the machine's busy share during the Store's
    runs, the Store's ceiling ratio, its own process's CPU a write (µs) and its one-core
    bound; blanks where ``/proc/stat`` could not be read."""
    usage = ours.usage
    if not (raw.usage.measured and usage.measured):
        return f"{'-':>8} {'-':>6} {'-':>5} {'-':>7} {'-':>5} {'-':>6}"
    return (
        f"{raw.usage.cpu_per_op * 1e6:>8.0f} {usage.cpu_per_op * 1e6:>6.0f} "
        f"{usage.busy_share:>5.0%} {usage.best_rate / raw.rate:>7.2f} "
        f"{usage.own_per_op * 1e6:>5.0f} {usage.one_core_rate / raw.rate:>6.2f}"
    )


async def storage_main() -> None:
    """Print, per case, ops/s of the raw driver and of SqlDocumentBackend, their ratio, and
    each side's p99 and maximum latency (ms)."""
    print(f"database storage: {CALLERS} concurrent callers, pool {POOL}, {OS_CORES} cores")
    print(
        f"{'database':<11} {'case':<11} {'raw ops/s':>10} {'backend':>10} {'ratio':>6} "
        f"{'raw p99':>8} {'p99':>8} {'raw max':>8} {'max':>8}  target"
    )
    with tempfile.TemporaryDirectory() as folder:
        targets = dict(SERVERS, sqlite=f"sqlite:///{folder}/bench.db")
        for dialect in ("postgresql", "mysql", "sqlite"):
            try:
                results = await bench(dialect, targets[dialect])
            except DatabaseConnectionError as exc:
                print(f"{dialect:<11} skipped: {exc}")
                continue
            for case, raw, ours, scale in results:
                print(
                    f"{dialect:<11} {case:<11} {raw.rate * scale:>10.0f} "
                    f"{ours.rate * scale:>10.0f} {ours.rate / raw.rate:>6.2f} "
                    f"{raw.p99 * 1000:>8.1f} {ours.p99 * 1000:>8.1f} "
                    f"{raw.max * 1000:>8.1f} {ours.max * 1000:>8.1f}  "
                    f"{verdict(case, raw, ours)}"
                )


OS_CORES = os.cpu_count()

if __name__ == "__main__":
    asyncio.run(main())

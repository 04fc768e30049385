"""Group commit (SPEC 12): durable writes through a Store beside the raw driver's best.

Part of ``bench_database`` (``make bench BENCH_ARGS=database``). For each database, in one run:

- create and update at 32 concurrent callers: a ``Store`` on its default settings (pool 4,
  ``max_batch_size`` 100), called through its Python API (``process_item``), beside the raw
  driver doing one autocommit write per call from the same 32 callers with a pool of 16
  (PostgreSQL, MariaDB; SQLite: its one connection in WAL mode with ``synchronous=NORMAL``,
  the store's setting). The raw writes are one statement each, at their best: PostgreSQL
  ``INSERT … RETURNING id`` (the id from the sequence) and ``UPDATE … SET data = data || $3``;
  MariaDB ``INSERT`` with a client-made id (no counter) and ``UPDATE … JSON_MERGE_PATCH``;
  SQLite the same ``INSERT``/``json_patch`` statements. Every write is durable when answered
  on both sides (each side commits it before it answers).
  Target: the Store at least 2.0 times the raw ops/s, with a p99 no worse than raw's.
- create and update at 1 caller: the Store on its defaults beside the same Store with
  ``max_batch_size: 1`` (group commit off). Target: no slower (0.9, the noise here).

Beside each case, what bounds it on this machine (``machine_cpu``): each side's CPU a write
over the whole machine (this process, the database server, the kernel), how busy the
machine was during the Store's runs, and two ratios the Store cannot pass at its CPU a
write: ``ceiling``, with every core busy, and ``1 core``, with this process's one event loop
never idle (``own`` is this process's CPU a write, every thread of it).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiomysql
import aiosqlite
import asyncpg
import orjson

from autocoder.components.store import Store
from autocoder.storage.sql.dialects import Dialect, quote

RAW_POOL = 16
DOC = {"title": "benchmark task", "done": False, "priority": 3, "tags": ["a", "b"]}
RECORDS = 500
_SQLITE_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

Compare = Callable[..., Awaitable[Any]]


async def _no_reset(connection: Any) -> None:
    """asyncpg pool ``reset`` that runs nothing (one autocommit statement leaves no state)."""


class RawWrites:
    """One autocommit write per call on the driver itself, on a document table of its own."""

    def __init__(self, dialect: Dialect, url: str, table: str) -> None:
        self.dialect = dialect
        self.url = url
        self.table = table
        self.t = quote(table, dialect)
        self.pool: Any = None
        self.conn: Any = None
        self.ids: list[str] = []

    async def open(self, busy_ms: int) -> None:
        if self.dialect == "postgresql":
            self.pool = await asyncpg.create_pool(
                self.url,
                min_size=RAW_POOL,
                max_size=RAW_POOL,
                reset=_no_reset,
                command_timeout=30.0,
            )
        elif self.dialect == "mysql":
            parts = urlsplit(self.url)
            self.pool = await aiomysql.create_pool(
                host=parts.hostname,
                port=parts.port or 3306,
                user=parts.username,
                password=parts.password or "",
                db=parts.path.lstrip("/"),
                autocommit=True,
                minsize=RAW_POOL,
                maxsize=RAW_POOL,
                charset="utf8mb4",
            )
        else:
            path = self.url.split(":///", 1)[1]
            self.conn = await aiosqlite.connect(path, isolation_level=None)
            await self.conn.execute(f"PRAGMA busy_timeout={busy_ms}")
            await self.conn.execute("PRAGMA journal_mode=WAL")
            await self.conn.execute("PRAGMA synchronous=NORMAL")

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()
        elif self.dialect == "postgresql":
            await self.pool.close()
        else:
            self.pool.close()
            await self.pool.wait_closed()

    async def create(self) -> Any:
        text = orjson.dumps(DOC).decode()
        if self.dialect == "postgresql":
            async with self.pool.acquire() as c:
                return await c.fetchval(
                    f"INSERT INTO {self.t} (tenant, id, data, version) SELECT '', n::text, "
                    f"$1::jsonb, 1 FROM (SELECT nextval(pg_get_serial_sequence('{self.t}', "
                    "'seq')) AS n) AS s RETURNING id",
                    text,
                )
        if self.dialect == "mysql":
            async with self.pool.acquire() as c, c.cursor() as cur:
                return await cur.execute(
                    f"INSERT INTO {self.t} (tenant, id, data, version, created_at, updated_at) "
                    "VALUES ('', %s, %s, 1, NOW(6), NOW(6))",
                    (uuid.uuid4().hex, text),
                )
        return await self.conn.execute_fetchall(
            f"INSERT INTO {self.t} (tenant, id, data, version, created_at, updated_at) "
            f"VALUES ('', ?, ?, 1, {_SQLITE_NOW}, {_SQLITE_NOW}) RETURNING seq",
            (uuid.uuid4().hex, text),
        )

    async def update(self, record_id: str, n: int) -> Any:
        patch = orjson.dumps({"n": n}).decode()
        if self.dialect == "postgresql":
            async with self.pool.acquire() as c:
                row = await c.fetchrow(
                    f"UPDATE {self.t} SET data = data || $2::jsonb, version = version + 1, "
                    "updated_at = now() WHERE tenant = '' AND id = $1 RETURNING data, version",
                    record_id,
                    patch,
                )
                return orjson.loads(row[0])
        if self.dialect == "mysql":
            async with self.pool.acquire() as c, c.cursor() as cur:
                return await cur.execute(
                    f"UPDATE {self.t} SET data = JSON_MERGE_PATCH(data, %s), "
                    "version = version + 1, updated_at = NOW(6) WHERE tenant = '' AND id = %s",
                    (patch, record_id),
                )
        return await self.conn.execute_fetchall(
            f"UPDATE {self.t} SET data = json_patch(data, ?), version = version + 1, "
            f"updated_at = {_SQLITE_NOW} WHERE tenant = '' AND id = ? RETURNING data, version",
            (patch, record_id),
        )


async def _store(url: str, table: str, **options: Any) -> Store:
    """A Store on ``table``: its defaults, but for ``options``."""
    config = {"storage_type": "database", "database_url": url, "table_name": table}
    store = Store("bench", {**config, **options})
    await store.setup()
    return store


async def _ids(store: Store, count: int) -> list[str]:
    replies = [
        await store.process_item({"action": "create", "data": dict(DOC)}) for _ in range(count)
    ]
    return [str(r["id"]) for r in replies]


def _writes(store: Store, ids: list[str]) -> tuple[Compare, Compare]:
    async def create(_: int) -> None:
        reply = await store.process_item({"action": "create", "data": dict(DOC)})
        assert reply["status"] == "success", reply

    async def update(i: int) -> None:
        message = {"action": "update", "id": ids[i % len(ids)], "data": {"n": i}}
        reply = await store.process_item(message)
        assert reply["status"] == "success", reply

    return create, update


async def bench(dialect: Dialect, url: str, compare: Compare) -> list[tuple[str, Any, Any, int]]:
    """(case, baseline side, Store side, 1) of each case; ``compare(raw, ours, callers=)``."""
    tables = [f"bench_{uuid.uuid4().hex[:12]}" for _ in range(3)]
    store = await _store(url, tables[0])
    unbatched = await _store(url, tables[1], max_batch_size=1)
    raw_layout = await _store(url, tables[2])  # makes the raw side's table, same layout
    raw = RawWrites(dialect, url, tables[2])
    results: list[tuple[str, Any, Any, int]] = []
    try:
        await raw.open(busy_ms=5000)
        ids = await _ids(store, RECORDS)
        raw_ids = await _ids(raw_layout, RECORDS)
        unbatched_ids = await _ids(unbatched, RECORDS)
        await raw_layout.cleanup()
        create, update = _writes(store, ids)

        async def raw_create(_: int) -> None:
            await raw.create()

        async def raw_update(i: int) -> None:
            await raw.update(raw_ids[i % RECORDS], i)

        results.append(("create 32", *await compare(raw_create, create), 1))
        results.append(("update 32", *await compare(raw_update, update), 1))
        one_create, one_update = _writes(unbatched, unbatched_ids)
        results.append(("create 1", *await compare(one_create, create, callers=1), 1))
        results.append(("update 1", *await compare(one_update, update, callers=1), 1))
    finally:
        await raw.close()
        for name, owner in zip(tables, (store, unbatched, None), strict=True):
            if owner is not None:
                await owner.cleanup()
            if dialect != "sqlite":
                await _drop(url, dialect, name)
    return results


async def _drop(url: str, dialect: Dialect, table: str) -> None:
    from autocoder.storage.sql.database import Database

    db = Database(url, max_size=1)
    await db.connect()
    try:
        await db.execute(f"DROP TABLE IF EXISTS {quote(table, dialect)}")
        if dialect == "mysql":
            await db.execute("DELETE FROM autocoder_id_counters WHERE table_name = ?", table)
        for history in ("autocoder_changes", "autocoder_changes_seq"):
            await db.execute(f"DELETE FROM {history} WHERE collection = ?", table)
    finally:
        await db.disconnect()


#: Targets of each case: the Store's share of the baseline's ops/s at least, and whether its
#: p99 may be no worse than the baseline's.
TARGETS = {"create 32": 2.0, "update 32": 2.0, "create 1": 0.9, "update 1": 0.9}


def verdict(case: str, baseline: Any, ours: Any) -> str:
    misses = []
    if ours.rate < TARGETS[case] * baseline.rate:
        misses.append(f"ratio<{TARGETS[case]}")
    if case.endswith(" 32") and ours.p99 > baseline.p99:
        misses.append("p99")
    return ", ".join(misses) or "ok"

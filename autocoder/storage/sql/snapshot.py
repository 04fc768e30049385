"""``snapshot(db)``: a read-only transaction in which every statement sees the same snapshot.

A ``list`` reads the records and the collection's seq in one (docs/change-feeds.md): READ
COMMITTED would give each statement its own snapshot, so a change committed between the two
reads could be in the records but not in the seq, or the other way round.

- PostgreSQL: ``BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY``;
- MySQL/MariaDB: ``START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY`` at REPEATABLE READ;
- SQLite: ``BEGIN`` (deferred: the first read fixes the snapshot), on the one connection held
  for the block.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from autocoder.storage.sql.database import Connection, Database

_BEGIN = {
    "postgresql": ("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",),
    "mysql": (
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
    ),
    "sqlite": ("BEGIN",),
}


@asynccontextmanager
async def snapshot(db: Database) -> AsyncIterator[Connection]:
    """``async with snapshot(db) as conn``: statements on ``conn`` share one snapshot."""
    async with db.connection() as conn:
        for statement in _BEGIN[db.dialect]:
            await conn.execute(statement)
        try:
            yield conn
        except Exception:
            try:
                await conn.execute("ROLLBACK")
            except Exception:
                conn.broken = True  # in an unknown state: not reused (the block's error wins)
            raise
        except BaseException:  # cancelled: the transaction may still be open
            conn.broken = True
            raise
        await conn.execute("COMMIT")

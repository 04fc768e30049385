"""The seq counter and the change history in a SQL database, and the one step that numbers a
transaction's changes.

Two tables, shared by every collection of the database (created when missing)::

    autocoder_changes_seq (collection PRIMARY KEY, value)  the highest seq given, per collection
    autocoder_changes (collection, seq, tenant, event)     the kept changes, key (collection, seq)

Why this gives gap-free numbering in commit order: ``record_changes`` runs at the very end of
a transaction, just before COMMIT, and bumps the collection's counter row
(``UPDATE … SET value = value + n``). That row stays locked until the transaction ends, so a
second transaction bumping it waits for the first to commit (or roll back) and reads the value
the first left: seqs are handed out in commit order, and seq N becomes visible only after
every smaller seq has. A watcher that has seen N can never later meet a change below N. The
lock is held only for the bump, the history insert and the COMMIT, and a transaction that
touches several collections bumps their rows in name order, so two never deadlock.

The history keeps each event without its seq (the ``seq`` column beside it);
``changes_after`` puts it back. ``trim`` deletes all but the newest ``keep`` of a collection;
it is run by the change feeds now and then, never by writers.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from typing import Any

import orjson

from autocoder.errors import InternalError
from autocoder.storage.changes.change import Change
from autocoder.storage.sql.database import Connection, Executed, Result
from autocoder.storage.sql.dialects import Dialect, placeholders
from autocoder.storage.sql.literals import MYSQL_TEXT_LIMIT, mysql_statements, mysql_text

COUNTERS = "autocoder_changes_seq"
HISTORY = "autocoder_changes"

_CREATE: dict[Dialect, tuple[str, ...]] = {
    "postgresql": (
        f"CREATE TABLE IF NOT EXISTS {COUNTERS} (collection VARCHAR(64) PRIMARY KEY, "
        "value BIGINT NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {HISTORY} (collection VARCHAR(64) NOT NULL, "
        "seq BIGINT NOT NULL, tenant VARCHAR(255) NOT NULL, event TEXT NOT NULL, "
        "PRIMARY KEY (collection, seq))",
    ),
    "mysql": (
        f"CREATE TABLE IF NOT EXISTS {COUNTERS} (collection VARCHAR(64) NOT NULL PRIMARY KEY, "
        "value BIGINT NOT NULL) ENGINE=InnoDB",
        f"CREATE TABLE IF NOT EXISTS {HISTORY} (collection VARCHAR(64) NOT NULL, "
        "seq BIGINT NOT NULL, tenant VARCHAR(255) NOT NULL, event LONGTEXT NOT NULL, "
        "PRIMARY KEY (collection, seq)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    ),
    "sqlite": (
        f"CREATE TABLE IF NOT EXISTS {COUNTERS} (collection TEXT PRIMARY KEY, "
        "value INTEGER NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {HISTORY} (collection TEXT NOT NULL, "
        "seq INTEGER NOT NULL, tenant TEXT NOT NULL, event TEXT NOT NULL, "
        "PRIMARY KEY (collection, seq)) WITHOUT ROWID",
    ),
}

_COUNTER_ROW: dict[Dialect, str] = {
    "postgresql": f"INSERT INTO {COUNTERS} (collection, value) VALUES (?, 0) "
    "ON CONFLICT (collection) DO NOTHING",
    "mysql": f"INSERT INTO {COUNTERS} (collection, value) VALUES (?, 0) "
    "ON DUPLICATE KEY UPDATE value = value",
    "sqlite": f"INSERT OR IGNORE INTO {COUNTERS} (collection, value) VALUES (?, 0)",
}

#: The bump; it gives the new value (MySQL through LAST_INSERT_ID, read as the last id).
_BUMP = f"UPDATE {COUNTERS} SET value = value + ? WHERE collection = ? RETURNING value"
_MYSQL_BUMP = f"UPDATE {COUNTERS} SET value = LAST_INSERT_ID(value + ?) WHERE collection = ?"

#: PostgreSQL bumps and inserts in one statement: one round trip with the row locked.
_PG_RECORD = placeholders(
    f"WITH c AS (UPDATE {COUNTERS} SET value = value + ? WHERE collection = ? "
    "RETURNING value) "
    f"INSERT INTO {HISTORY} (collection, seq, tenant, event) "
    "SELECT ?, c.value - ? + u.n, u.tenant, u.event FROM c, "
    "unnest(?::text[], ?::text[]) WITH ORDINALITY AS u(tenant, event, n) RETURNING seq",
    "postgresql",
)

_INSERT = f"INSERT INTO {HISTORY} (collection, seq, tenant, event) VALUES (?, ?, ?, ?)"
_LATEST = f"SELECT value FROM {COUNTERS} WHERE collection = ?"
_OLDEST = f"SELECT MIN(seq) FROM {HISTORY} WHERE collection = ?"
_AFTER = (
    f"SELECT seq, event FROM {HISTORY} WHERE collection = ? AND seq > ? AND seq <= ? "
    "ORDER BY seq LIMIT ?"
)
_TRIM = f"DELETE FROM {HISTORY} WHERE collection = ? AND seq <= ?"


def _sql(statement: str, dialect: Dialect) -> str:
    return placeholders(statement, dialect)


async def prepare(conn: Connection, collections: list[str]) -> None:
    """Create the two tables when missing and a counter row for each collection."""
    dialect = conn.dialect
    for statement in _CREATE[dialect]:
        await conn.execute(statement)
    for collection in collections:
        await conn.execute(_sql(_COUNTER_ROW[dialect], dialect), (collection,))


async def record_changes(conn: Connection, changes: list[Change]) -> None:
    """Number ``changes`` (a transaction's, in order) and keep them in the history.

    Called once per transaction, on its connection, just before COMMIT: every change gets
    its ``seq``. A transaction with no change does nothing.
    """
    if not changes:
        return
    by_collection: dict[str, list[Change]] = defaultdict(list)
    for change in changes:
        by_collection[change.collection].append(change)
    for collection in sorted(by_collection):  # counter rows locked in one order: no deadlock
        await _record(conn, collection, by_collection[collection])


async def _record(conn: Connection, collection: str, changes: list[Change]) -> None:
    dialect = conn.dialect
    count = len(changes)
    texts = [orjson.dumps(c.event_without_seq()).decode() for c in changes]
    if dialect == "postgresql":
        tenants = [c.tenant for c in changes]
        rows = await conn.fetch(_PG_RECORD, (count, collection, collection, count, tenants, texts))
        if len(rows) != count:
            raise _no_counter(collection)
        last = max(int(row[0]) for row in rows)
    else:
        if dialect == "mysql":
            statements = mysql_numbering(collection, changes, texts)
            if len(statements) == 2 and len(statements[1]) <= MYSQL_TEXT_LIMIT:
                done = await conn.execute("; ".join(statements))  # one round trip
                number_from(collection, changes, done)
                return
            # rows too long for one text: parameters, which the driver sends in pieces
            done = await conn.execute(_sql(_MYSQL_BUMP, dialect), (count, collection))
            if not done.rowcount:
                raise _no_counter(collection)
            last = int(done.last_id)
        else:
            value = await conn.fetch_val(_sql(_BUMP, dialect), (count, collection))
            if value is None:
                raise _no_counter(collection)
            last = int(value)
        first = last - count + 1
        rows_in = [
            (collection, first + i, c.tenant, text)
            for i, (c, text) in enumerate(zip(changes, texts, strict=True))
        ]
        if count == 1:
            await conn.execute(_sql(_INSERT, dialect), rows_in[0])
        else:
            await conn.execute_many(_sql(_INSERT, dialect), rows_in)
    for offset, change in enumerate(changes):
        change.seq = last - count + 1 + offset


def mysql_numbering(
    collection: str, changes: list[Change], texts: list[str] | None = None
) -> list[str]:
    """MySQL: the bump of ``collection``'s counter and the history rows of ``changes`` (one
    collection's, in order; ``texts`` their events, when already made), as statements with
    their values as literals (``sql.literals``), to be sent in as few round trips as their
    length allows (``mysql_texts``), followed by more statements when the caller has some:
    the bump, then the rows in one ``INSERT`` (several when one would be too long). The bump
    sets LAST_INSERT_ID to the last seq given, which the rows' seqs are counted back from
    (nothing between changes it: the history has no AUTO_INCREMENT), and which the bump's
    result tells: ``number_from`` reads it."""
    if texts is None:
        texts = [orjson.dumps(c.event_without_seq()).decode() for c in changes]
    count = len(changes)
    name = mysql_text(collection)
    rows = [
        f"({name}, LAST_INSERT_ID() - {count - 1 - i}, {mysql_text(c.tenant)}, {mysql_text(t)})"
        for i, (c, t) in enumerate(zip(changes, texts, strict=True))
    ]
    bump = (
        f"UPDATE {COUNTERS} SET value = LAST_INSERT_ID(value + {count}) WHERE collection = {name}"
    )
    insert = f"INSERT INTO {HISTORY} (collection, seq, tenant, event) VALUES "
    return [bump, *mysql_statements(insert, rows)]


def number_from(collection: str, changes: list[Change], bumped: Executed | Result) -> None:
    """Give ``changes`` their seqs from the result of ``mysql_numbering``'s bump; raises when
    it found no counter row (the statements after it ran on a stale LAST_INSERT_ID: the
    transaction must not commit, and is rolled back by this error)."""
    if not bumped.rowcount:
        raise _no_counter(collection)
    first = int(bumped.last_id) - len(changes) + 1
    for offset, change in enumerate(changes):
        change.seq = first + offset


def record_changes_in_thread(connection: sqlite3.Connection, changes: list[Change]) -> None:
    """``record_changes`` for SQLite, run in its connection's thread (``Connection.in_thread``)
    inside the transaction, so that a group-commit batch writes and numbers its changes in one
    call: the same statements, with no hop back to the event loop between them."""
    by_collection: dict[str, list[Change]] = defaultdict(list)
    for change in changes:
        by_collection[change.collection].append(change)
    bump, insert = _sql(_BUMP, "sqlite"), _sql(_INSERT, "sqlite")
    for collection in sorted(by_collection):
        numbered = by_collection[collection]
        count = len(numbered)
        rows = connection.execute(bump, (count, collection)).fetchall()
        if not rows:
            raise _no_counter(collection)
        first = int(rows[0][0]) - count + 1
        connection.executemany(
            insert,
            [
                (collection, first + i, c.tenant, orjson.dumps(c.event_without_seq()).decode())
                for i, c in enumerate(numbered)
            ],
        )
        for offset, change in enumerate(numbered):
            change.seq = first + offset


def _no_counter(collection: str) -> InternalError:
    return InternalError(
        f"the seq counter row of collection {collection!r} is missing from {COUNTERS}"
    )


async def latest(conn: Connection, collection: str) -> int:
    """The collection's highest committed seq (0 when it never changed)."""
    value = await conn.fetch_val(_sql(_LATEST, conn.dialect), (collection,))
    return 0 if value is None else int(value)


async def oldest(conn: Connection, collection: str) -> int | None:
    """The smallest seq still kept, or None when the history of the collection is empty."""
    value = await conn.fetch_val(_sql(_OLDEST, conn.dialect), (collection,))
    return None if value is None else int(value)


async def changes_after(
    conn: Connection, collection: str, after: int, up_to: int, limit: int
) -> list[dict[str, Any]]:
    """The kept events with ``after < seq <= up_to``, in seq order, at most ``limit``."""
    rows = await conn.fetch(_sql(_AFTER, conn.dialect), (collection, after, up_to, limit))
    events = []
    for row in rows:
        event: dict[str, Any] = orjson.loads(row[1])
        event["seq"] = int(row[0])
        events.append(event)
    return events


async def trim(conn: Connection, collection: str, below_or_at: int) -> int:
    """Delete the kept changes with ``seq <= below_or_at``; how many went."""
    done = await conn.execute(_sql(_TRIM, conn.dialect), (collection, below_or_at))
    return done.rowcount

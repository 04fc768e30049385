"""Several writes of a document table at once: the fast path of a group-commit batch.

``commit_together`` (``storage.group_commit.together``) runs a batch in one transaction;
this gives it, per dialect, the writes of the batch with a few statements each holding many
rows, instead of one or two statements per write. The batch is cut in rounds
(``group_commit.rounds``): a round never touches a record twice, so its writes of one kind
go in one statement.

- PostgreSQL: ``pg_together`` commits a batch of creates only, or of updates and replaces
  of different records only, as one statement outside a transaction that numbers their
  changes too (it commits by itself). Any other batch runs in ``commit_together``: the
  creates of a round go in one statement, ``INSERT … SELECT FROM unnest(…) ON CONFLICT DO
  NOTHING`` with their sequence numbers taken in it, which tells for each whether it went
  in: one that did not has a taken id. Updates and replaces are one ``UPDATE … FROM
  unnest(…)`` (merging with ``||``), deletes one ``DELETE … USING unnest(…)``, each checking
  ``expected_version`` in the statement; a write whose row did not come back is told
  ``not_found`` or ``version_conflict`` by one look at its row, as alone.
- MySQL / MariaDB: ``mysql_together`` commits a batch in one transaction whose statements
  go several to a text (``Connection.script``): BEGIN with the first round's reads, each
  later round's reads with the writes of the round before, and the last round's writes with
  the numbering of the batch's changes and COMMIT, so a batch of one round takes two round
  trips. Generated ids are reserved for a round at once (one update of the counter row) and
  the creates go in one multi-row ``INSERT``. Updates, replaces and deletes read their rows
  ``FOR UPDATE`` in one ``SELECT``, merge here, and write back in one ``INSERT … ON
  DUPLICATE KEY UPDATE`` (the rows exist and are locked) or one ``DELETE``. Every value is
  a literal (``sql.literals``), which is cheaper than aiomysql's escaping of each parameter.
- SQLite: ``sqlite_together`` runs the whole transaction, BEGIN, every write, the numbering
  of their changes and COMMIT, as one call into the connection's thread: one hop there and
  back for the batch instead of one per statement (``commit_together`` is not needed). A
  round's creates run one by one as alone; its other writes read their rows in one
  statement and are written with one ``executemany`` (``_sqlite_batch``).

A statement that fails in the database makes the batch roll back and run again write by
write in ``commit_together``, where each failing write fails alone: ``commit_together``
rolls back for ``write_batch``; ``pg_together``, ``mysql_together`` and ``sqlite_together``
(whose call rolls back in the thread) return None and the caller does so.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from autocoder.errors import (
    Conflict,
    InternalError,
    NotFound,
    RolledBack,
    StoreError,
    StoreTimeout,
    Unavailable,
    ValidationFailed,
)
from autocoder.storage.backend import Record
from autocoder.storage.changes import history
from autocoder.storage.changes.change import Change
from autocoder.storage.documents.operations import (
    DocumentOps,
    DocumentTable,
    MySqlOps,
    conflict,
    dumps,
    sqlite_merge,
    version_conflict,
)
from autocoder.storage.group_commit import EVENTS, Write, commit_together, rounds
from autocoder.storage.group_commit.together import OpsOn
from autocoder.storage.sql.database import Connection, Database, Result
from autocoder.storage.sql.dialects import quote
from autocoder.storage.sql.literals import mysql_int, mysql_statements, mysql_text, mysql_texts

Outcome = Any  # Record | BaseException


async def write_batch(ops: DocumentOps, writes: Sequence[Write]) -> list[Outcome] | None:
    """PostgreSQL: every write's outcome, run a round at a time with multi-row statements."""
    outcomes = _unknown_collections(ops.table, writes)
    batch = list(writes)
    for members in rounds(batch):
        todo = [i for i in members if outcomes[i] is None]
        creates = [i for i in todo if batch[i].kind == "create"]
        changes = [i for i in todo if batch[i].kind in ("update", "replace")]
        deletes = [i for i in todo if batch[i].kind == "delete"]
        await _pg_creates(ops, batch, creates, outcomes)
        await _pg_changes(ops, batch, changes, outcomes)
        await _pg_deletes(ops, batch, deletes, outcomes)
    return outcomes


def _unknown_collections(table: DocumentTable, writes: Sequence[Write]) -> list[Outcome]:
    """Each write's outcome so far: its error when it names another collection, else None."""
    return [
        None
        if write.collection == table.name
        else ValidationFailed(f"unknown collection {write.collection!r}")
        for write in writes
    ]


# -- PostgreSQL --------------------------------------------------------------------------------


async def pg_together(
    db: Database, table: DocumentTable, writes: Sequence[Write], ops_on: OpsOn
) -> list[Change] | None:
    """Commit a batch of creates only, or of updates and replaces of different records only,
    as one statement outside a transaction that also numbers their changes
    (``insert_numbered``, ``write_numbered``): it commits by itself, so the batch takes one
    round trip instead of four (BEGIN, the writes, the numbering, COMMIT). Sets every
    write's outcome and returns the changes committed, in order.

    None, having done nothing, for any other batch, or when the statement failed in the
    database (it committed nothing): the caller then commits the batch in a transaction
    (``commit_together``). When the statement's fate is unknown (the connection was lost, it
    timed out), every write gets that error, as a write alone whose COMMIT was cut off. A
    generated id that a client had chosen before is retried after the statement, in a
    transaction of its own: that create's seq comes after the batch's.
    """
    batch = list(writes)
    outcomes = _unknown_collections(table, batch)
    members = [i for i, outcome in enumerate(outcomes) if outcome is None]
    kinds = {batch[i].kind for i in members}
    if kinds == {"create"}:
        rows, sql = _pg_create_rows(table.name, batch, members), table.statements.insert_numbered
    elif kinds and kinds <= {"update", "replace"} and len(rounds([batch[i] for i in members])) == 1:
        rows, sql = _pg_write_rows(batch, members), table.statements.write_numbered
    else:
        return None
    again: list[Write] = []
    changes: list[Change] = []
    async with db.connection(reset=False) as conn:
        try:
            result = await conn.fetch(sql, (*_columns(rows), table.name))
        except RolledBack:  # a deadlock: nothing committed, and the batch may run again
            return None
        except (Unavailable, StoreTimeout) as exc:  # committed or not: nobody knows
            for write, outcome in zip(batch, outcomes, strict=True):
                write.outcome = outcome or exc
            return []
        except StoreError:  # failed in the database: nothing was committed
            return None
        if kinds == {"create"}:
            for i, (number, inserted, seq, _) in zip(members, result, strict=True):
                write = batch[i]
                if inserted:
                    record = Record(write.record_id or str(number), dict(write.data or {}), 1)
                    outcomes[i] = Change("created", write.collection, write.tenant, record, seq)
                elif write.record_id is None:  # a generated id some client chose before
                    again.append(write)
                else:
                    outcomes[i] = conflict(write.record_id)
        else:
            written = {members[row[0] - 1]: row for row in result}
            for i in members:
                write = batch[i]
                assert write.record_id is not None
                row = written.get(i)
                if row is None:
                    outcomes[i] = await _pg_ops(ops_on, conn).missing_or_conflict(
                        write.kind, write.tenant, write.record_id, write.expected_version
                    )
                    continue
                _, text, version, seq, _ = row
                data = orjson.loads(text) if write.kind == "update" else dict(write.data or {})
                record = Record(write.record_id, data, version)
                outcomes[i] = Change(
                    EVENTS[write.kind], write.collection, write.tenant, record, seq
                )
    for write, outcome in zip(batch, outcomes, strict=True):
        write.outcome = outcome
        if isinstance(outcome, Change):
            changes.append(outcome)
    if again:  # no statement of theirs fails: they take the next free ids
        changes += await commit_together(db, ops_on, again, before_commit=history.record_changes)
    return changes


def _pg_ops(ops_on: OpsOn, conn: Connection) -> DocumentOps:
    ops: DocumentOps = ops_on(conn)
    return ops


def _pg_create_rows(
    collection: str, batch: list[Write], members: list[int]
) -> list[tuple[Any, ...]]:
    """The rows of ``insert_numbered``: tenant, id, data, and the event's text around the id
    (the database puts the id in: it may be generated there), as ``Change.event_without_seq``
    would be encoded."""
    name = orjson.dumps(collection).decode()
    rows = []
    for i in members:
        write = batch[i]
        text = dumps(write.data or {})
        head = '{"event":"created","collection":' + name + ',"tenant":'
        head += orjson.dumps(write.tenant).decode() + ',"id":'
        mid = ',"version":1,"data":' + ("{" if text == "{}" else text[:-1] + ",") + '"id":'
        rows.append((write.tenant, write.record_id, text, head, mid))
    return rows


def _pg_write_rows(batch: list[Write], members: list[int]) -> list[tuple[Any, ...]]:
    """The rows of ``write_numbered``: tenant, id, data, expected version, merge."""
    return [
        (w.tenant, w.record_id, dumps(w.data or {}), w.expected_version, w.kind == "update")
        for w in (batch[i] for i in members)
    ]


def _columns(rows: Iterable[tuple[Any, ...]]) -> list[list[Any]]:
    """Rows as columns: one list per column, the array parameters of an ``unnest`` statement."""
    return [list(column) for column in zip(*rows, strict=True)]


async def _pg_creates(
    ops: DocumentOps, batch: list[Write], members: list[int], outcomes: list[Outcome]
) -> None:
    if not members:
        return
    columns = _columns(
        (w.tenant, w.record_id, dumps(w.data or {})) for w in (batch[i] for i in members)
    )
    rows = await ops.conn.fetch(ops.sql.insert_many, columns)  # (n, inserted), in order
    again: list[int] = []
    for i, (number, inserted) in zip(members, rows, strict=True):
        write = batch[i]
        record_id = write.record_id or str(number)
        if inserted:
            outcomes[i] = Record(record_id, dict(write.data or {}), 1)
        elif write.record_id is None:  # a generated id some client chose before: the next
            again.append(i)
        else:
            outcomes[i] = conflict(record_id)
    for i in again:
        outcomes[i] = await batch[i].apply(ops)  # no statement of it fails: it retries


async def _pg_changes(
    ops: DocumentOps, batch: list[Write], members: list[int], outcomes: list[Outcome]
) -> None:
    if not members:
        return
    columns = _columns(
        (w.tenant, w.record_id, dumps(w.data or {}), w.expected_version, w.kind == "update")
        for w in (batch[i] for i in members)
    )
    rows = await ops.conn.fetch(ops.sql.write_many, columns)
    written = {(row[0], row[1]): (row[2], row[3]) for row in rows}
    for i in members:
        write = batch[i]
        assert write.record_id is not None
        found = written.get((write.tenant, write.record_id))
        if found is None:
            outcomes[i] = await ops.missing_or_conflict(
                write.kind, write.tenant, write.record_id, write.expected_version
            )
        elif write.kind == "update":
            outcomes[i] = Record(write.record_id, orjson.loads(found[0]), found[1])
        else:
            outcomes[i] = Record(write.record_id, dict(write.data or {}), found[1])


async def _pg_deletes(
    ops: DocumentOps, batch: list[Write], members: list[int], outcomes: list[Outcome]
) -> None:
    if not members:
        return
    columns = _columns(
        (w.tenant, w.record_id, w.expected_version) for w in (batch[i] for i in members)
    )
    rows = await ops.conn.fetch(ops.sql.delete_many, columns)
    deleted = {(row[0], row[1]): (row[2], row[3]) for row in rows}
    for i in members:
        write = batch[i]
        assert write.record_id is not None
        found = deleted.get((write.tenant, write.record_id))
        if found is None:
            outcomes[i] = await ops.missing_or_conflict(
                "delete", write.tenant, write.record_id, write.expected_version
            )
        else:
            outcomes[i] = Record(write.record_id, orjson.loads(found[0]), found[1])


# -- MySQL / MariaDB ---------------------------------------------------------------------------


async def mysql_together(
    db: Database, table: DocumentTable, writes: Sequence[Write]
) -> list[Change] | None:
    """Commit ``writes`` in one transaction whose statements go as few texts as the batch's
    rounds allow (``_MySqlBatch``): a batch of one round takes two round trips, BEGIN with
    its reads, then its writes, their numbering and COMMIT. Sets every write's outcome and
    returns the changes committed, in order.

    None, having committed nothing, when the database answered a statement with an error (a
    constraint, a deadlock, a lock wait past its limit: the server stops the text there, and
    the transaction is rolled back here) or the connection was cut before COMMIT was sent
    (the server rolls back a transaction whose connection ended): the caller then runs the
    writes one by one (``commit_together``). When the text holding COMMIT was cut off (the
    connection lost, the statement past its time bound), every write gets that error, as a
    write alone whose COMMIT was cut off: nobody knows whether it committed.
    """
    batch = list(writes)
    outcomes = _unknown_collections(table, batch)
    async with db.connection(reset=False) as conn:
        run = _MySqlBatch(MySqlOps(table, conn), batch, outcomes)
        try:
            changes = await run.commit()
        except StoreError as exc:
            if not conn.broken:  # answered: nothing of the batch committed
                await _roll_back(conn)
                return None
            if not run.committing:
                return None
            for write, outcome in zip(batch, outcomes, strict=True):  # its own error, if any
                write.outcome = outcome if isinstance(outcome, BaseException) else exc
            return []
    for write, outcome in zip(batch, outcomes, strict=True):
        write.outcome = outcome
    return changes


async def _roll_back(conn: Connection) -> None:
    """End the transaction a failed text left open (a lock wait timeout leaves it so, with
    its locks), so the connection goes back to the pool usable: aiomysql's pool closes one
    given back inside a transaction. One that cannot roll back is not reused."""
    try:
        await conn.execute("ROLLBACK")
    except StoreError:
        conn.broken = True


class _MySqlBatch:
    """The statements of one batch, a round at a time (``rounds``), sent with as few round
    trips as the reads allow: each round's reads (the reservation of its generated ids, one
    ``SELECT … FOR UPDATE`` of the rows it changes) go in one text with the writes of the
    round before and, first of all, BEGIN; the last round's writes go with the numbering of
    the batch's changes (``history.mysql_numbering``) and COMMIT. Creates are one multi-row
    ``INSERT``; updates and replaces, merged here, one ``INSERT … ON DUPLICATE KEY UPDATE``
    (the rows exist and are locked); deletes one ``DELETE``. Values are literals
    (``sql.literals``). A text longer than ``MYSQL_TEXT_LIMIT`` is cut in several."""

    def __init__(self, ops: MySqlOps, batch: list[Write], outcomes: list[Outcome]) -> None:
        self.ops = ops
        self.batch = batch
        self.outcomes = outcomes
        #: Statements still to send, the next text's first.
        self.pending: list[str] = ["BEGIN"]
        #: The text holding COMMIT was sent: from then on its fate may be unknown.
        self.committing = False

    async def commit(self) -> list[Change]:
        """Run the batch; sets ``outcomes`` (a ``Change``, numbered, for a write that
        succeeded) and returns the changes committed, in order."""
        batch, outcomes = self.batch, self.outcomes
        for members in rounds(batch):
            todo = [i for i in members if outcomes[i] is None]
            creates = [i for i in todo if batch[i].kind == "create"]
            others = [i for i in todo if batch[i].kind != "create"]
            last_id, rows = await self._read(creates, others)
            self._creates(creates, last_id)
            self._changes(others, rows)
        changes: list[Change] = []
        for index, write in enumerate(batch):
            outcome = outcomes[index]
            if isinstance(outcome, Record):
                outcomes[index] = change = write.change(outcome)
                changes.append(change)
        bump = len(self.pending)
        if changes:
            self.pending += history.mysql_numbering(self.ops.table.name, changes)
        self.pending.append("COMMIT")
        self.committing = True
        results = await self._send()
        if changes:
            history.number_from(self.ops.table.name, changes, results[bump])
        return changes

    async def _send(self, *reads: str) -> list[Result]:
        """Send the pending statements and ``reads``; the results of ``reads``."""
        statements = [*self.pending, *reads]
        self.pending = []
        results: list[Result] = []
        for text in mysql_texts(statements):
            results += await self.ops.conn.script(text)
        return results[len(results) - len(reads) :] if reads else results

    async def _read(
        self, creates: list[int], others: list[int]
    ) -> tuple[int, dict[tuple[str, str], tuple[str, int]]]:
        """With the statements pending, reserve the generated ids of ``creates`` and read the
        rows of ``others`` (updates, replaces, deletes) ``FOR UPDATE``: the last id reserved
        (0 for none), and (data, version) of each row found, by (tenant, id)."""
        batch, ops = self.batch, self.ops
        count = sum(batch[i].record_id is None for i in creates)
        reads: list[str] = []
        if count:
            reads.append(ops.sql.reserve % (mysql_int(count), mysql_text(ops.table.name)))
        if others:
            t = quote(ops.table.name, "mysql")
            where = _keys_where([(batch[i].tenant, batch[i].record_id or "") for i in others])
            reads.append(f"SELECT tenant, id, data, version FROM {t} WHERE {where} FOR UPDATE")
        if not reads:
            return 0, {}
        results = await self._send(*reads)
        last_id = 0
        if count:
            reserved = results[0]
            # this table's counter row is missing: make it, and reserve again
            last_id = int(reserved.last_id) if reserved.rowcount else await ops.reserve(count)
        rows = results[-1].rows if others else []
        return last_id, {(row[0], row[1]): (row[2], int(row[3])) for row in rows}

    def _creates(self, members: list[int], last_id: int) -> None:
        """Set the outcomes of ``members`` (creates) and add the statement inserting them."""
        if not members:
            return
        batch = self.batch
        generated = sum(batch[i].record_id is None for i in members)
        numbers = iter(range(last_id - generated + 1, last_id + 1))
        rows: list[str] = []
        for i in members:
            write = batch[i]
            record_id = write.record_id or str(next(numbers))
            data = write.data or {}
            text = mysql_text(write.tenant), mysql_text(record_id), mysql_text(dumps(data))
            rows.append(_row(*text, "1", "NOW(6)", "NOW(6)"))
            self.outcomes[i] = Record(record_id, dict(data), 1)
        t = quote(self.ops.table.name, "mysql")
        # a taken id fails the statement: the batch then runs write by write
        head = f"INSERT INTO {t} (tenant, id, data, version, created_at, updated_at) VALUES "
        self.pending += mysql_statements(head, rows)

    def _changes(self, members: list[int], current: dict[tuple[str, str], tuple[str, int]]) -> None:
        """Check and merge ``members`` (updates, replaces, deletes) against their rows as
        read, set their outcomes, and add the statements writing them."""
        if not members:
            return
        batch, outcomes = self.batch, self.outcomes
        upserts: list[str] = []
        gone: list[tuple[str, str]] = []
        for i in members:
            write = batch[i]
            assert write.record_id is not None
            found = current.get((write.tenant, write.record_id))
            action = write.kind
            if found is None:
                outcomes[i] = NotFound(action, write.record_id)
                continue
            text, version = found
            expected = write.expected_version
            if expected is not None and version != expected:
                outcomes[i] = version_conflict(write.record_id, version, expected)
                continue
            if action == "delete":
                gone.append((write.tenant, write.record_id))
                outcomes[i] = Record(write.record_id, orjson.loads(text), version)
                continue
            data = write.data or {}
            new_data = {**orjson.loads(text), **data} if action == "update" else dict(data)
            key = mysql_text(write.tenant), mysql_text(write.record_id)
            upserts.append(
                _row(*key, mysql_text(dumps(new_data)), mysql_int(version + 1), "NOW(6)", "NOW(6)")
            )
            outcomes[i] = Record(write.record_id, new_data, version + 1)
        t = quote(self.ops.table.name, "mysql")
        if upserts:  # the rows exist and are locked: every one of them is an update
            self.pending += mysql_statements(
                f"INSERT INTO {t} (tenant, id, data, version, created_at, updated_at) VALUES ",
                upserts,
                " ON DUPLICATE KEY UPDATE data = VALUES(data), version = VALUES(version), "
                "updated_at = VALUES(updated_at)",
            )
        if gone:
            self.pending.append(f"DELETE FROM {t} WHERE {_keys_where(gone)}")


def _row(*values: str) -> str:
    return "(" + ", ".join(values) + ")"


def _keys_where(keys: list[tuple[str, str]]) -> str:
    """The condition matching the rows of ``keys`` (tenant, id), grouped by tenant:
    ``tenant = … AND id IN (…)`` reads the primary key as ranges, which ``(tenant, id) IN
    ((…), …)`` locking rows ``FOR UPDATE`` did at up to twice the time (32 rows, MariaDB)."""
    ids: dict[str, list[str]] = {}
    for tenant, record_id in keys:
        ids.setdefault(tenant, []).append(mysql_text(record_id))
    return " OR ".join(
        f"(tenant = {mysql_text(tenant)} AND id IN ({', '.join(of_tenant)}))"
        for tenant, of_tenant in ids.items()
    )


# -- SQLite ------------------------------------------------------------------------------------


async def sqlite_together(
    db: Database, table: DocumentTable, writes: Sequence[Write]
) -> list[Change] | None:
    """Commit ``writes`` in one transaction made in one call into SQLite's thread; sets every
    write's outcome and returns the changes committed, in order. None when a statement failed
    (or the call timed out): the transaction was rolled back, nothing was committed and no
    outcome was set, and the caller runs the writes one by one (``commit_together``)."""
    batch = list(writes)
    outcomes = _unknown_collections(table, batch)
    async with db.connection(reset=False) as conn:  # the connection alone, as a transaction
        try:
            results = await conn.in_thread(_sqlite_transaction, table.statements, batch, outcomes)
        except StoreError:
            return None
    changes: list[Change] = []
    for write, outcome in zip(batch, results, strict=True):
        write.outcome = outcome
        if isinstance(outcome, Change):
            changes.append(outcome)
    return changes


def _sqlite_transaction(
    connection: sqlite3.Connection, sql: Any, writes: list[Write], outcomes: list[Outcome]
) -> list[Outcome]:
    """In the connection's thread: BEGIN IMMEDIATE (as ``Database.transaction``), the writes
    and their numbering (``_sqlite_batch``), COMMIT; rolled back when anything raises."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        results = _sqlite_batch(connection, sql, writes, outcomes)
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return results


def _sqlite_batch(
    connection: sqlite3.Connection, sql: Any, writes: list[Write], outcomes: list[Outcome]
) -> list[Outcome]:
    """Inside the batch's transaction, a round at a time (``rounds``): creates one by one as
    ``SqliteOps`` runs them alone; the updates, replaces and deletes of the round read their
    rows in one ``SELECT``, are merged and checked here, and written with one
    ``executemany`` each (the transaction holds SQLite's write lock since BEGIN IMMEDIATE:
    no other writer can come between the read and the write, so no compare-and-set is
    needed). Then their changes are numbered (``history``): the outcome of a write that
    succeeded is its ``Change``, already numbered."""
    results = list(outcomes)
    for members in rounds(writes):
        todo = [i for i in members if results[i] is None]
        current = _sqlite_rows(
            connection, sql, [writes[i] for i in todo if writes[i].kind != "create"]
        )
        written: list[tuple[Any, ...]] = []
        gone: list[tuple[str, str]] = []
        for i in todo:
            write = writes[i]
            if write.kind == "create":
                results[i] = _sqlite_write(connection, sql, write)
                continue
            record_id = write.record_id
            assert record_id is not None
            found = current.get((write.tenant, record_id))
            expected = write.expected_version
            if found is None:
                results[i] = NotFound(write.kind, record_id)
            elif expected is not None and found[1] != expected:
                results[i] = version_conflict(record_id, found[1], expected)
            elif write.kind == "delete":
                gone.append((write.tenant, record_id))
                results[i] = Record(record_id, orjson.loads(found[0]), found[1])
            else:
                data = write.data or {}
                new = {**orjson.loads(found[0]), **data} if write.kind == "update" else dict(data)
                written.append((dumps(new), found[1] + 1, write.tenant, record_id))
                results[i] = Record(record_id, new, found[1] + 1)
        for statement, rows in ((sql.write_row, written), (sql.delete_row, gone)):
            if rows and connection.executemany(statement, rows).rowcount != len(rows):
                raise InternalError("a row read in the batch's transaction was not there to write")
    changes = []
    for index, write in enumerate(writes):
        outcome = results[index]
        if isinstance(outcome, Record):
            results[index] = change = write.change(outcome)
            changes.append(change)
    history.record_changes_in_thread(connection, changes)
    return results


def _sqlite_rows(
    connection: sqlite3.Connection, sql: Any, writes: list[Write]
) -> dict[tuple[str, str], tuple[str, int]]:
    """(data, version) of the rows ``writes`` touch, by (tenant, id), in one statement per
    tenant."""
    ids: dict[str, list[str]] = {}
    for write in writes:
        ids.setdefault(write.tenant, []).append(write.record_id or "")
    rows: dict[tuple[str, str], tuple[str, int]] = {}
    for tenant, of_tenant in ids.items():
        marks = "(" + ", ".join("?" * len(of_tenant)) + ")"
        for record_id, text, version in connection.execute(
            sql.rows_in + marks, (tenant, *of_tenant)
        ).fetchall():
            rows[(tenant, record_id)] = (text, int(version))
    return rows


def _sqlite_write(connection: sqlite3.Connection, sql: Any, write: Write) -> Outcome:
    tenant, record_id, data = write.tenant, write.record_id, write.data or {}
    expected = write.expected_version
    if write.kind == "create":
        text = dumps(data)
        if record_id is not None:
            if not connection.execute(sql.insert, (tenant, record_id, text)).fetchall():
                return conflict(record_id)
            return Record(record_id, dict(data), 1)
        step = 1
        while True:  # as SqliteOps.create: the next free generated id
            rows = connection.execute(sql.insert_generated, (tenant, text, step)).fetchall()
            if rows:
                return Record(rows[0][0], dict(data), 1)
            step += 1
    assert record_id is not None
    if write.kind == "update":
        merged = sqlite_merge(connection, sql, tenant, record_id, data, expected)
        if isinstance(merged, Record):
            return merged
        if merged is None:
            return NotFound("update", record_id)
        if expected is not None and merged != expected:
            return version_conflict(record_id, merged, expected)
        return Conflict(f"record {record_id!r} kept changing during update; retry")
    if write.kind == "replace":
        args = (dumps(data), tenant, record_id, expected)
        rows = connection.execute(sql.replace, args).fetchall()
        if rows:
            return Record(record_id, dict(data), rows[0][0])
    else:
        rows = connection.execute(sql.delete, (tenant, record_id, expected)).fetchall()
        if rows:
            return Record(record_id, orjson.loads(rows[0][0]), rows[0][1])
    current = connection.execute(sql.version, (tenant, record_id)).fetchall()
    if not current or expected is None:
        return NotFound(write.kind, record_id)
    return version_conflict(record_id, int(current[0][0]), expected)

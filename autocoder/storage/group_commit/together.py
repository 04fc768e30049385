"""Several writes in one transaction, each failing alone: the SQL side of group commit.

``commit_together(db, ops_on, writes)`` runs ``writes`` (``autocoder.storage.group_commit``)
in order in one transaction and commits it, setting each write's ``outcome``. It is
optimistic, with a retry without the write that failed:

- A write that fails without any statement failing in the database (not found, version
  conflict, a taken id found by ``ON CONFLICT DO NOTHING``, a validation error found before
  any statement) changed nothing: it gets its error and the others go on in the same
  transaction.
- A write whose statement failed in the database (a constraint, a value the column cannot
  hold, a timeout) may have left the transaction unusable (PostgreSQL aborts it): it gets its
  error, the transaction is rolled back, and the writes before and after it run again in a
  new one. A batch with k such failures takes k + 1 transactions; none pays a savepoint.
- When BEGIN or COMMIT fails, no write of the transaction is known to have committed:
  each gets that error (``unavailable``, or ``timeout``), as it would have run alone.
- When the database rolled the transaction back to settle a race (a deadlock with another
  transaction: ``RolledBack``, at any statement or at COMMIT), nothing of it committed: it
  runs again, whole, after a pause (``races``), a few times before its writes get the error.

``ops_on(conn)`` gives the backend's ``Operations`` on the transaction's connection;
``fast(ops, writes)``, when given, may run the writes with fewer statements (several rows at
once) and returns the outcome of each (a record; or, when it numbered the changes itself in
the same transaction, the ``Change``); it returns None, having done nothing, when it cannot,
and when it raises the transaction is rolled back and the writes run again one by one.
Either way every write's outcome is what it would have been had the writes run alone, one
after another, in the order given. ``before_commit`` (the change history's
``record_changes``) numbers the changes of the writes that succeeded, once per transaction,
just before COMMIT, as it numbers a single write's: their seqs follow the order of the batch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from autocoder.errors import NotFound, RolledBack, StoreError
from autocoder.storage.changes.change import Change
from autocoder.storage.group_commit.races import ATTEMPTS, pause_before_again
from autocoder.storage.group_commit.write import Write
from autocoder.storage.sql.database import Connection, Database

OpsOn = Callable[[Connection], Any]
Outcome = Any  # Record | BaseException
Fast = Callable[[Any, Sequence[Write]], Awaitable[list[Outcome] | None]]
#: Called inside the transaction, after every write, with the changes of the writes that
#: succeeded, in order, just before COMMIT: ``history.record_changes``, which numbers them.
BeforeCommit = Callable[[Connection, list[Change]], Awaitable[None]]


async def commit_together(
    db: Database,
    ops_on: OpsOn,
    writes: Sequence[Write],
    *,
    fast: Fast | None = None,
    before_commit: BeforeCommit | None = None,
) -> list[Change]:
    """Run ``writes`` in one transaction (see the module docstring); sets every ``outcome``
    and returns the changes committed, in order."""
    pending = list(writes)
    lost = 0  # races lost: runs the database rolled back
    while pending:
        attempt = _Attempt(pending, fast)
        try:
            return await attempt.run(db, ops_on, before_commit)
        except Exception as exc:  # rolled back
            if isinstance(exc, RolledBack) and lost + 1 < ATTEMPTS:
                lost += 1
                await pause_before_again(lost)  # the same writes again
            elif attempt.fast_failed:
                fast = None  # again, write by write
            elif attempt.failed_at is not None:
                pending[attempt.failed_at].outcome = exc
                del pending[attempt.failed_at]
            elif isinstance(exc, StoreError):  # no connection, or BEGIN or COMMIT failed
                for write in pending:
                    write.outcome = exc
                return []
            else:
                raise
    return []


class _Attempt:
    """One transaction over ``pending``; when it raises, what failed."""

    def __init__(self, pending: list[Write], fast: Fast | None) -> None:
        self.pending = pending
        self.fast = fast
        #: The fast path raised: the writes go again one by one.
        self.fast_failed = False
        #: The write whose statement failed: the writes go again without it.
        self.failed_at: int | None = None

    async def run(
        self, db: Database, ops_on: OpsOn, before_commit: BeforeCommit | None
    ) -> list[Change]:
        pending = self.pending
        async with db.transaction(reset=False) as conn:
            ops = ops_on(conn)
            outcomes = None
            if self.fast is not None:
                try:
                    outcomes = await self.fast(ops, pending)
                except Exception:
                    self.fast_failed = True
                    raise
            if outcomes is None:
                outcomes = [await self._one(conn, ops, i, w) for i, w in enumerate(pending)]
            changes: list[Change] = []
            unnumbered: list[Change] = []
            for write, outcome in zip(pending, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    write.outcome = outcome
                    continue
                if isinstance(outcome, Change):  # numbered by the fast path itself
                    write.outcome = outcome
                else:
                    write.outcome = write.change(outcome)
                    unnumbered.append(write.outcome)
                changes.append(write.outcome)
            if before_commit is not None and unnumbered:
                await before_commit(conn, unnumbered)
        return changes

    async def _one(self, conn: Connection, ops: Any, index: int, write: Write) -> Outcome:
        """One write's record, or the error it failed with when that changed nothing."""
        before = conn.failures
        try:
            return await write.apply(ops)
        except (StoreError, NotFound) as exc:
            if conn.failures == before:
                return exc  # nothing changed in the database
            self.failed_at = index
            raise
        except Exception:
            self.failed_at = index
            raise

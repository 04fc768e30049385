"""A write's transaction that the database rolled back to settle a race runs again.

Two transactions that lock the same rows in opposite orders deadlock, and the database rolls
one of them back whole (PostgreSQL ``40P01``, or ``40001`` for a serialization failure; MySQL
and MariaDB ``1213``): ``RolledBack``. One write per transaction cannot deadlock with another
store's (each locks its record, then the collection's seq counter), but a batch locks several
records, so two processes' batches can; and an application's own transaction can deadlock with
any write. Nothing of a rolled-back transaction committed, so it runs again, after a random
pause that grows with each attempt (two that met once do not meet again in step), up to
``ATTEMPTS`` times in all; then its writes get the error, ``unavailable``, as before::

    change = await again_when_rolled_back(lambda: run_transaction(write))
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import structlog

from autocoder.errors import RolledBack

T = TypeVar("T")
log = structlog.get_logger("autocoder")

#: Runs of one transaction that keeps being rolled back, the first included.
ATTEMPTS = 4
#: The longest pause before the second run; it doubles before each later one.
FIRST_PAUSE = 0.002


async def pause_before_again(attempt: int) -> None:
    """Before running a transaction again after its run number ``attempt`` was rolled back:
    a random pause of up to ``FIRST_PAUSE * 2 ** (attempt - 1)`` seconds, logged."""
    log.info("transaction rolled back by the database; running it again", attempt=attempt + 1)
    await anyio.sleep(random.uniform(0, FIRST_PAUSE * 2 ** (attempt - 1)))


async def again_when_rolled_back(run: Callable[[], Awaitable[T]]) -> T:
    """``await run()``, run again while the database rolls its transaction back
    (``RolledBack``), up to ``ATTEMPTS`` runs; the last one's error is raised."""
    attempt = 1
    while True:
        try:
            return await run()
        except RolledBack:
            if attempt == ATTEMPTS:
                raise
            await pause_before_again(attempt)
            attempt += 1

"""Group commit (SPEC section 12): concurrent writes of a database store share a transaction.

``queue`` gathers the writes and decides who commits which batch; ``write`` is one write and
how a batch is cut in rounds; ``together`` runs a batch in one transaction, each write failing
alone; ``races`` runs again a transaction the database rolled back to settle a deadlock.
"""

from autocoder.storage.group_commit.queue import (
    DEFAULT_MAX_BATCH_SIZE,
    GroupCommit,
    batches_at_once,
    writers,
)
from autocoder.storage.group_commit.races import again_when_rolled_back
from autocoder.storage.group_commit.together import commit_together
from autocoder.storage.group_commit.write import EVENTS, Write, WriteKind, rounds

__all__ = (
    "DEFAULT_MAX_BATCH_SIZE",
    "EVENTS",
    "GroupCommit",
    "Write",
    "WriteKind",
    "again_when_rolled_back",
    "batches_at_once",
    "commit_together",
    "rounds",
    "writers",
)

"""Every exception autocoder raises, in one tree, and the error reply they answer with.

::

    AutocoderError
    ├── BlueprintError                 a blueprint is invalid (exit code 2); carries every Problem
    ├── UsageError                     the command line asks what the blueprint cannot do (exit 2)
    ├── StartupError                   the system could not start (exit code 1)
    │   ├── ConfigurationError         a database URL or type that cannot be used (also a
    │   │                              ValueError); raised before any connection is tried
    │   ├── DatabaseConnectionError    a database is unreachable at start-up
    │   ├── DatabaseSchemaValidationError
    │   │                              a table is missing or differs, or a migration changed
    │   └── TransportConnectionError   the NATS server is unreachable at start-up
    ├── ComponentFailure               a component's processing loop failed past its restarts
    ├── WorkerFailure                  workers of ``--workers N`` kept dying; the run stopped
    ├── StoreError                     an action message could not be served; ``error_type`` is the
    │   │                              reply's ``error_type`` (docs/actions.md)
    │   ├── ValidationFailed           validation_error  (also a ValueError)
    │   │   └── DataValidationError    V5 data validation, listing every bad field
    │   ├── Conflict                   conflict          (the id exists / a unique key is taken)
    │   ├── VersionConflict            version_conflict  (``expected_version`` does not match)
    │   ├── Unavailable                unavailable       (also a ConnectionError)
    │   │   └── RolledBack *           the database rolled a transaction back to settle a
    │   │                              deadlock; the store runs it again, a few times
    │   ├── StoreTimeout               timeout           (also a TimeoutError)
    │   ├── UnknownAction              unknown_action
    │   ├── ChangesGone                gone              (a watch ``since`` older than the kept
    │   │                              history, docs/change-feeds.md)
    │   ├── WatcherLagged              unavailable       (a watcher fell a whole buffer behind
    │   │                              and was disconnected; it resumes from its last seq)
    │   └── InternalError              internal
    ├── NotFound                       no such record (also a LookupError); not an error reply:
    │                                  its status is ``not_found``, but it travels the same way
    ├── BatchFailed *                  one operation of a batch failed; nothing was applied
    ├── UnknownComponentType *         a blueprint's type is neither registered nor importable
    │                                  (also a LookupError; the loader reports it as a Problem)
    ├── ReloadRefused *                a reload cannot apply the new blueprint; nothing changed
    ├── RequestRejected *              an HTTP request unacceptable as sent (400, 413, 412 ...)
    └── Unauthorized *                 an HTTP request without a valid API key (401)

The classes marked * never leave autocoder: the layer that raises them also turns them into a
reply, a response, a log line or a ``BlueprintError``. The others are exported from ``autocoder``.

Driver exceptions are translated into this tree at exactly one boundary,
``autocoder.storage.sql.errors``, and NATS client exceptions at ``autocoder.transport.errors``;
everything above those layers sees only these classes.
Every ``{"status": "error", ...}`` reply is built by ``error_reply``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


class AutocoderError(Exception):
    """The root of every autocoder exception."""


def error_reply(error_type: str, message: str, **details: Any) -> dict[str, Any]:
    """An error reply as docs/actions.md shapes it: ``status``, ``message``, ``error_type``."""
    reply: dict[str, Any] = {"status": "error", "message": message, "error_type": error_type}
    reply.update(details)
    return reply


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a blueprint, located at a YAML node (1-based line and column)."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        if self.line <= 0:  # about the whole file (it cannot be read)
            return f"{self.file}: error: {self.message}"
        return f"{self.file}:{self.line}:{self.column}: error: {self.message}"


class BlueprintError(AutocoderError):
    """A blueprint is invalid. ``problems`` holds every problem found, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column))
        super().__init__("\n".join(str(p) for p in self.problems))


class UsageError(AutocoderError):
    """The command line asks for something the blueprint cannot do (exit code 2)."""


class ReloadRefused(AutocoderError):
    """A reload cannot apply the blueprint it read; the system runs on as it was."""


class StartupError(AutocoderError):
    """The system could not be started; the message is the one-line cause."""


class ConfigurationError(StartupError, ValueError):
    """A database URL or type that cannot be used (raised before any connection is tried)."""


class DatabaseConnectionError(StartupError, ConnectionError):
    """A database could not be reached (the message names host:port, never the password)."""


class DatabaseSchemaValidationError(StartupError):
    """The database schema does not match what the blueprint needs."""


class TransportConnectionError(StartupError, ConnectionError):
    """The NATS server could not be reached (the message names host:port, never credentials)."""


class ComponentFailure(AutocoderError):
    """A component failed more often than its ``restart.max_restarts`` allows."""


class WorkerFailure(AutocoderError):
    """Worker processes of ``autocoder run --workers N`` died too often to keep restarting."""


class StoreError(AutocoderError):
    """An action could not be served. Subclasses fix ``error_type``."""

    error_type: ClassVar[str] = "internal"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_reply(self) -> dict[str, Any]:
        """The error reply of docs/actions.md."""
        return error_reply(self.error_type, self.message, **self.details)


class ValidationFailed(StoreError, ValueError):
    error_type = "validation_error"


class DataValidationError(ValidationFailed):
    """Data does not fit a V5 table; ``fields`` maps each bad field to what is wrong with it."""

    def __init__(self, fields: dict[str, str], table: str = "") -> None:
        listing = "; ".join(f"{name}: {why}" for name, why in fields.items())
        where = f" for table {table}" if table else ""
        super().__init__(f"invalid data{where}: {listing}", fields=dict(fields))
        self.fields = dict(fields)


class Conflict(StoreError):
    error_type = "conflict"


class VersionConflict(StoreError):
    error_type = "version_conflict"


class Unavailable(StoreError, ConnectionError):
    error_type = "unavailable"


class RolledBack(Unavailable):
    """The database rolled a whole transaction back to settle a race with another one (a
    deadlock, a serialization failure): nothing of it committed, so running it again is safe.
    A store runs such a transaction again itself (``storage.group_commit.races``); a caller
    sees it, as ``unavailable``, only when every attempt lost."""


class StoreTimeout(StoreError, TimeoutError):
    error_type = "timeout"


class UnknownAction(StoreError):
    error_type = "unknown_action"


class InternalError(StoreError):
    error_type = "internal"


class ChangesGone(StoreError):
    """A watch asked to start after a seq whose following changes are no longer kept."""

    error_type = "gone"


class WatcherLagged(StoreError):
    """A watcher fell so far behind that its bounded buffer filled; it was disconnected.

    ``seq`` is the last change it was given: watching again from it misses nothing.
    """

    error_type = "unavailable"


class NotFound(AutocoderError, LookupError):
    """The record does not exist; replied as ``{"status": "not_found", ...}``."""

    def __init__(self, action: str, record_id: str) -> None:
        super().__init__(f"{action}: no record with id {record_id!r}")
        self.action = action
        self.record_id = record_id

    def to_reply(self) -> dict[str, Any]:
        return {"status": "not_found", "action": self.action, "id": self.record_id}


class BatchFailed(AutocoderError):
    """Operation ``index`` of a batch failed with ``reply``; nothing was applied."""

    def __init__(self, index: int, reply: dict[str, Any]) -> None:
        super().__init__(reply.get("message", reply.get("status")))
        self.index = index
        self.reply = {**reply, "index": index}


class UnknownComponentType(AutocoderError, LookupError):
    """A blueprint names a type that is neither registered nor importable."""

    def __init__(self, type_name: str, reason: str) -> None:
        super().__init__(reason)
        self.type_name = type_name
        self.reason = reason


class RequestRejected(AutocoderError):
    """An HTTP request is unacceptable as sent: answered ``code`` with an error reply."""

    def __init__(self, code: int, message: str, error_type: str = "validation_error") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.error_type = error_type


class Unauthorized(AutocoderError):
    """No valid API key was presented; the message says what was expected, never the key."""

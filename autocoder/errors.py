"""Every exception autocoder raises, in one tree.

::

    AutocoderError
    ├── BlueprintError                 a blueprint is invalid (exit code 2); carries every Problem
    ├── StartupError                   the system could not start (exit code 1)
    │   ├── DatabaseConnectionError    a database is unreachable at start-up
    │   └── DatabaseSchemaValidationError
    │                                  a table is missing or differs, or a migration changed
    ├── ComponentFailure               a component's processing loop failed past its restarts
    └── StoreError                     an action message could not be served; ``error_type`` is the
        │                              reply's ``error_type`` (SPEC section 3)
        ├── ValidationFailed           validation_error  (also a ValueError)
        │   └── DataValidationError    V5 data validation, listing every bad field
        ├── Conflict                   conflict          (the id exists / a unique key is taken)
        ├── VersionConflict            version_conflict  (``expected_version`` does not match)
        ├── Unavailable                unavailable       (also a ConnectionError)
        ├── StoreTimeout               timeout           (also a TimeoutError)
        ├── UnknownAction              unknown_action
        └── InternalError              internal

``NotFound`` is not an error reply (its status is ``not_found``) but travels the same way.

Driver exceptions are translated into this tree at exactly one boundary,
``autocoder.storage.sql.errors``; everything above the storage layer sees only these classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


class AutocoderError(Exception):
    """The root of every autocoder exception."""


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


class StartupError(AutocoderError):
    """The system could not be started; the message is the one-line cause."""


class DatabaseConnectionError(StartupError, ConnectionError):
    """A database could not be reached (the message names host:port, never the password)."""


class DatabaseSchemaValidationError(StartupError):
    """The database schema does not match what the blueprint needs."""


class ComponentFailure(AutocoderError):
    """A component failed more often than its ``restart.max_restarts`` allows."""


class StoreError(AutocoderError):
    """An action could not be served. Subclasses fix ``error_type``."""

    error_type: ClassVar[str] = "internal"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_reply(self) -> dict[str, Any]:
        """The error reply of SPEC section 3."""
        reply: dict[str, Any] = {
            "status": "error",
            "message": self.message,
            "error_type": self.error_type,
        }
        reply.update(self.details)
        return reply


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


class StoreTimeout(StoreError, TimeoutError):
    error_type = "timeout"


class UnknownAction(StoreError):
    error_type = "unknown_action"


class InternalError(StoreError):
    error_type = "internal"


class NotFound(AutocoderError, LookupError):
    """The record does not exist; replied as ``{"status": "not_found", ...}``."""

    def __init__(self, action: str, record_id: str) -> None:
        super().__init__(f"{action}: no record with id {record_id!r}")
        self.action = action
        self.record_id = record_id

    def to_reply(self) -> dict[str, Any]:
        return {"status": "not_found", "action": self.action, "id": self.record_id}

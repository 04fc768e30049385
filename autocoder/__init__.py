"""autocoder: run systems described in YAML blueprints.

The public API is what ``__all__`` names; everything else is internal.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from autocoder.errors import (
    AutocoderError,
    BlueprintError,
    ChangesGone,
    ComponentFailure,
    ConfigurationError,
    Conflict,
    DatabaseConnectionError,
    DatabaseSchemaValidationError,
    DataValidationError,
    InternalError,
    NotFound,
    StartupError,
    StoreError,
    StoreTimeout,
    TransportConnectionError,
    Unavailable,
    UnknownAction,
    UsageError,
    ValidationFailed,
    VersionConflict,
    WatcherLagged,
    WorkerFailure,
)
from autocoder.logging import configure_logging
from autocoder.runtime.component import ComponentConfig, ComposedComponent, RestartPolicy
from autocoder.system import System

try:
    __version__ = version("autocoder")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = (
    "AutocoderError",
    "BlueprintError",
    "ChangesGone",
    "ComponentConfig",
    "ComponentFailure",
    "ComposedComponent",
    "ConfigurationError",
    "Conflict",
    "DataValidationError",
    "DatabaseConnectionError",
    "DatabaseSchemaValidationError",
    "InternalError",
    "NotFound",
    "RestartPolicy",
    "StartupError",
    "StoreError",
    "StoreTimeout",
    "System",
    "TransportConnectionError",
    "Unavailable",
    "UnknownAction",
    "UsageError",
    "ValidationFailed",
    "VersionConflict",
    "WatcherLagged",
    "WorkerFailure",
    "__version__",
    "configure_logging",
)

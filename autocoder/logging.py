"""structlog set-up: console lines on a terminal, JSON lines otherwise, secrets masked.

Every component logs through ``structlog.get_logger("autocoder").bind(component=name)``, so
each line names its component. ``mask_secrets`` is the one place that hides passwords in URLs
and the values of secret-looking keys; it runs on every log event.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, Literal

import structlog

LogFormat = Literal["console", "json"]

_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*:)[^@\s/]+(?=@)")
_SECRET_KEYS = re.compile(r"pass(word)?|secret|token|api_?key|authorization|credential", re.I)
MASK = "***"


def mask_secrets(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    return _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, dict):
        return {
            k: MASK if _SECRET_KEYS.search(str(k)) else _mask_value(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_mask_value(v) for v in value]
    return value


def mask_event(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask URL passwords and secret-looking keys in every event."""
    for key, value in list(event_dict.items()):
        if _SECRET_KEYS.search(key):
            event_dict[key] = MASK
        else:
            event_dict[key] = _mask_value(value)
    return event_dict


def _mask_rendered(_logger: Any, _method: str, rendered: Any) -> Any:
    # Tracebacks are rendered text: mask what reached them too.
    return mask_secrets(rendered) if isinstance(rendered, str) else rendered


def configure_logging(log_format: LogFormat | None = None, level: str = "info") -> None:
    """Configure structlog for the process: ``console`` or ``json`` (default: by terminal)."""
    if log_format is None:
        log_format = "console" if sys.stderr.isatty() else "json"
    numeric_level = logging.getLevelName(level.upper())
    if not isinstance(numeric_level, int):
        raise ValueError(f"unknown log level {level!r}")
    renderer: Any
    exception_processors: list[Any]
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer()
        exception_processors = [structlog.processors.dict_tracebacks]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        exception_processors = []
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            mask_event,
            *exception_processors,
            renderer,
            _mask_rendered,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        # One write per line: the workers of ``--workers N`` share stderr, and a line written
        # in two pieces (print's text, then its newline) could be cut by another's line.
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Libraries that log through the standard library (uvicorn, databases) go the same way.
    logging.basicConfig(level=max(numeric_level, logging.WARNING), stream=sys.stderr, force=True)

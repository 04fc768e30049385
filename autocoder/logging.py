"""structlog set-up: console lines on a terminal, JSON lines otherwise, secrets masked.

Every component logs through ``structlog.get_logger("autocoder").bind(component=name)``, so
each line names its component. ``mask_secrets`` is the one place that hides passwords in URLs
and the values of secret-looking keys; it runs on every log event. Values bound with
``structlog.contextvars`` (the request id of the request being served) go on every line made
in that context.

The JSON pipeline runs once per request when the access log is on, so it is kept cheap: two
processors (the context variables, then ``_JsonLine``: level, timestamp, masking, orjson), key
verdicts cached, and a line that cannot hide a secret written without masking it key by key.
The access log's ``info`` lines skip even structlog's call chain (``write_info_line``): the
same two steps, called directly, give the same line.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Mapping, MutableMapping
from typing import Any, BinaryIO, Literal

import orjson
import structlog

LogFormat = Literal["console", "json"]

_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*:)[^@\s/]+(?=@)")
_SECRET_KEYS = re.compile(r"pass(word)?|secret|token|api_?key|authorization|credential", re.I)
MASK = "***"


def mask_secrets(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    if "://" not in text:  # what every match needs; most log values have none
        return text
    return _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)


_secret_key_verdicts: dict[str, bool] = {}
_PLAIN = frozenset({int, float, bool, type(None)})


def _is_secret_key(key: Any) -> bool:
    name = str(key)
    verdict = _secret_key_verdicts.get(name)
    if verdict is None:
        verdict = _SECRET_KEYS.search(name) is not None
        if len(_secret_key_verdicts) < 4096:  # log keys are few; data keys must not grow it
            _secret_key_verdicts[name] = verdict
    return verdict


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {k: MASK if _is_secret_key(k) else _mask_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_value(v) for v in value]
    return value


def mask_event(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask URL passwords and secret-looking keys in every event."""
    verdicts = _secret_key_verdicts
    for key, value in event_dict.items():
        secret = verdicts.get(key)
        if secret is None:
            secret = _is_secret_key(key)
        if secret:
            event_dict[key] = MASK
        elif value.__class__ is str:
            if "://" in value:
                event_dict[key] = mask_secrets(value)
        elif value.__class__ not in _PLAIN:
            event_dict[key] = _mask_value(value)
    return event_dict


def _mask_rendered(_logger: Any, _method: str, rendered: Any) -> Any:
    # Tracebacks are rendered text: mask what reached them too.
    if isinstance(rendered, bytes):
        if b"://" not in rendered:
            return rendered
        return mask_secrets(rendered.decode("utf-8", "replace")).encode()
    return mask_secrets(rendered) if isinstance(rendered, str) else rendered


_LEVEL_OF_METHOD = {"warn": "warning", "exception": "error"}


class _Clock:
    """ISO 8601 UTC timestamps (``...T08:45:29.649822Z``), the text of the current second kept."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def now(self) -> str:
        second, micros = divmod(time.time_ns() // 1000, 1_000_000)
        if second != self._second:
            self._second = second
            self._text = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))
        return f"{self._text}{micros:06d}Z"


class _LevelAndTime:
    """structlog processor: ``level`` and an ISO 8601 UTC ``timestamp``.

    One step instead of ``add_log_level`` and ``TimeStamper`` (console lines).
    """

    def __init__(self) -> None:
        self._clock = _Clock()

    def __call__(
        self, _logger: Any, method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        event_dict["level"] = _LEVEL_OF_METHOD.get(method, method)
        event_dict["timestamp"] = self._clock.now()
        return event_dict


def _json_fallback(value: Any) -> Any:
    """How orjson renders what JSON has no type for, as structlog's ``JSONRenderer`` does."""
    structlog_form = getattr(value, "__structlog__", None)
    return structlog_form() if callable(structlog_form) else repr(value)


def _render(event_dict: MutableMapping[str, Any]) -> bytes:
    return orjson.dumps(event_dict, default=_json_fallback, option=orjson.OPT_NON_STR_KEYS)


class _JsonLine:
    """structlog's last processor for JSON lines: the event as one line of bytes.

    It adds ``level`` and ``timestamp``, masks secrets as ``mask_event`` does, renders a
    traceback as structlog's ``dict_tracebacks`` does, serialises with orjson (what JSON has
    no type for as structlog's ``JSONRenderer`` renders it) and masks what reached the
    rendered text: the work of five processors in one call, since the access log writes a
    line per request through it.

    Most lines need no masking, and that is cheap to see: none of their keys looks secret
    (known per set of keys, so each key is judged once) and their rendering holds no URL
    (``://``, where a password would be) and no nested object or array (``:{``, ``:[``, where
    a secret key could be). Such a line is rendered once and written as it is; any other line
    is masked key by key and rendered again.
    """

    def __init__(self) -> None:
        self._clock = _Clock()
        #: Per tuple of keys: whether none of them looks secret.
        self._keys_without_secrets: dict[tuple[Any, ...], bool] = {}

    def __call__(self, logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> bytes:
        event_dict["level"] = _LEVEL_OF_METHOD.get(method, method)
        event_dict["timestamp"] = self._clock.now()
        if "exc_info" not in event_dict and self._no_secret_keys(tuple(event_dict)):
            rendered = _render(event_dict)
            if b"://" not in rendered and b":{" not in rendered and b":[" not in rendered:
                return rendered
        mask_event(logger, method, event_dict)
        if "exc_info" in event_dict:
            event_dict = structlog.processors.dict_tracebacks(logger, method, event_dict)
        return _mask_rendered(logger, method, _render(event_dict))  # type: ignore[no-any-return]

    def _no_secret_keys(self, keys: tuple[Any, ...]) -> bool:
        verdict = self._keys_without_secrets.get(keys)
        if verdict is None:
            verdict = not any(_is_secret_key(key) for key in keys)
            if len(self._keys_without_secrets) < 4096:  # as for the verdicts per key
                self._keys_without_secrets[keys] = verdict
        return verdict


#: Lines written together stay within what a pipe writes at once (POSIX ``PIPE_BUF``), so the
#: workers of ``--workers N``, which share stderr, never cut into each other's lines.
_ATOMIC_BYTES = 4096


class _Lines:
    """The JSON log's output: each line whole, the lines of one event-loop turn in one write.

    Written one ``write`` per line, the access log spends more time in the kernel than in
    rendering (a file append per request). So a line logged at ``info`` or below while an
    event loop runs is kept and written, with the others of that turn, from a callback the
    loop runs next (``call_soon``): at once as far as a reader can tell, but in one ``write``
    (of at most ``_ATOMIC_BYTES``, whole lines) for many requests under load. A ``warning``
    or worse, a line logged outside a running loop (start-up, threads) and the end of the
    process (``atexit``) and a fork (``--workers``) write what is kept first, then their own
    line, so the order holds and nothing waits behind a line that may be the last before an
    exit. The price: code that blocks the loop holds the ``info`` lines of its turn until it
    gives the loop back.
    """

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._lock = threading.Lock()
        self._kept: list[bytes] = []
        self._flushing_on: asyncio.AbstractEventLoop | None = None
        atexit.register(self.flush)
        os.register_at_fork(before=self.flush)  # a worker must not write its parent's lines

    def msg(self, message: bytes) -> None:
        """Keep ``message`` for the end of the loop's turn, or write it now outside a loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.now(message)
            return
        with self._lock:
            self._kept.append(message + b"\n")
            if self._flushing_on is None:
                loop.call_soon(self.flush)
                self._flushing_on = loop
            elif self._flushing_on is not loop:  # another loop's turn: do not wait on it
                self._write_kept()

    def now(self, message: bytes) -> None:
        """Write what is kept, then ``message``."""
        with self._lock:
            self._kept.append(message + b"\n")
            self._write_kept()

    def flush(self) -> None:
        """Write what is kept."""
        with self._lock:
            self._write_kept()

    def _write_kept(self) -> None:
        self._flushing_on = None
        if not self._kept:  # (at exit, a file replaced by then may be closed: leave it be)
            return
        lines, self._kept = self._kept, []
        chunk: list[bytes] = []
        size = 0
        for line in lines:
            if chunk and size + len(line) > _ATOMIC_BYTES:
                self._write(b"".join(chunk))
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        self._write(b"".join(chunk))

    def _write(self, data: bytes) -> None:
        self._file.write(data)
        self._file.flush()  # one write each: a buffer must not join two chunks into one

    # structlog calls the method named as the level; a warning or worse is not kept.
    debug = info = msg
    warning = warn = error = err = critical = fatal = exception = failure = now


#: The JSON pipeline (its processors, last step and output) while info lines are written as
#: JSON (see ``write_info_line``); ``None`` otherwise.
_json_info: tuple[list[Any], _JsonLine, _Lines] | None = None


def write_info_line(bound: Mapping[str, Any], event: str, fields: dict[str, Any]) -> bool:
    """Write an ``info`` line exactly as ``logger.info(event, **fields)`` would, for a logger
    bound to ``bound`` (``structlog.get_context(logger)``), but without structlog's call
    chain: the access log writes one per request. ``False`` when logging is not configured
    for JSON at ``info`` or below; log through structlog then."""
    output = _json_info
    if output is None:
        return False
    processors, render, lines = output
    configured = structlog.get_config()["processors"]
    # Changed since (structlog's capture_logs changes the list in place): leave it to them.
    if configured is not processors or len(configured) != 2 or configured[-1] is not render:
        return False
    # What structlog's BoundLogger and merge_contextvars make, in the same key order.
    event_dict = {**bound, **fields, "event": event}
    for key, value in structlog.contextvars.get_contextvars().items():
        event_dict.setdefault(key, value)
    lines.msg(render(None, "info", event_dict))
    return True


def configure_logging(log_format: LogFormat | None = None, level: str = "info") -> None:
    """Configure structlog for the process: ``console`` or ``json`` (default: by terminal)."""
    if log_format is None:
        log_format = "console" if sys.stderr.isatty() else "json"
    numeric_level = logging.getLevelName(level.upper())
    if not isinstance(numeric_level, int):
        raise ValueError(f"unknown log level {level!r}")
    processors: list[Any]
    logger_factory: Any
    global _json_info
    _json_info = None
    if log_format == "json":
        render = _JsonLine()
        processors = [structlog.contextvars.merge_contextvars, render]
        lines = _Lines(sys.stderr.buffer)
        logger_factory = lambda *_args: lines  # noqa: E731 - one output for every logger
        if numeric_level <= logging.INFO:
            _json_info = (processors, render, lines)
    else:
        processors = [
            structlog.contextvars.merge_contextvars,
            _LevelAndTime(),
            mask_event,
            structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()),
            _mask_rendered,
        ]
        logger_factory = structlog.WriteLoggerFactory(file=sys.stderr)
    # Whole lines in each write (both outputs): the workers of ``--workers N`` share stderr,
    # and a line written in two pieces (the text, then its newline) could be cut by another's.
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=logger_factory,
        cache_logger_on_first_use=False,
    )
    # Libraries that log through the standard library (uvicorn, databases) go the same way.
    logging.basicConfig(level=max(numeric_level, logging.WARNING), stream=sys.stderr, force=True)

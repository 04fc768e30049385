"""Fixtures for every test: the event loop each test runs on, and structlog's state restored.

Every async test runs twice through anyio's ``anyio_backend`` fixture: on uvloop, the loop
``autocoder run`` uses in production, and on asyncio's own loop in debug mode, where a
coroutine never awaited, a callback scheduled from another thread or a resource left open
is reported (warnings are errors, see pyproject.toml). An ``autocoder`` process a test starts
runs on the same loop as the test (``AUTOCODER_EVENT_LOOP``, ``PYTHONASYNCIODEBUG``); tests
that only start processes ask for ``anyio_backend`` to run on both.

A test marked ``processes`` is one whose body only drives processes (``autocoder`` commands,
workers, replicas) through their ports, files and exit codes: the test process's own loop
runs nothing of autocoder's there, so running the body twice would only run the processes
twice. It runs once, on one of the two loops, and its processes on that loop: the loop is
chosen from the test's name (a checksum, so it is the same on every run and machine and the
marked tests share the two loops about evenly). Its test id names the loop, as for any test.
``tests/README.md`` says more.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from autocoder.system import EVENT_LOOP_VARIABLE
from tests.spare_databases import drop_spares

ASYNC_BACKENDS = [
    pytest.param(("asyncio", {"debug": True}), id="asyncio"),
    pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
]


class _NotSlowCallbacks(logging.Filter):
    """Drops the debug loop's "Executing <Task ...> took 0.123 seconds" warnings: asyncio's
    debug mode reports every step over 100 ms, which a loaded 2-core machine makes now and
    then, and the line lands in the stderr a test reads (a CLI's one-line error, say). What
    else debug mode reports (coroutines never awaited, calls from other threads, resources
    left open) is kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Executing %s took")


def pytest_configure(config: pytest.Config) -> None:
    logging.getLogger("asyncio").addFilter(_NotSlowCallbacks())
    config.addinivalue_line(
        "markers",
        "processes: the test only drives processes, so it runs on one event loop, chosen by its "
        "name, not on both (tests/conftest.py)",
    )


def pytest_sessionfinish(session: pytest.Session) -> None:
    drop_spares()  # the PostgreSQL databases kept for reuse (tests/spare_databases.py)


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Give a ``processes`` test the one loop its name picks.

    Runs before pytest's own parametrization, which then takes the loop as the test's own
    ``anyio_backend`` parameter instead of the fixture's two.
    """
    definition = metafunc.definition
    if definition.get_closest_marker("processes") is None:
        return
    if "anyio_backend" not in metafunc.fixturenames:
        raise pytest.UsageError(
            f"{definition.nodeid} is marked 'processes' but does not use anyio_backend, "
            "so it runs once already: drop the marker"
        )
    chosen = ASYNC_BACKENDS[zlib.crc32(definition.nodeid.encode()) % len(ASYNC_BACKENDS)]
    definition.add_marker(
        pytest.mark.parametrize("anyio_backend", [chosen.values[0]], ids=[chosen.id])
    )


@pytest.fixture(scope="module", params=ASYNC_BACKENDS)
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param


@pytest.fixture(autouse=True)
def _processes_run_on_the_tests_loop(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if "anyio_backend" not in request.fixturenames:
        return
    _, options = request.getfixturevalue("anyio_backend")
    monkeypatch.setenv(EVENT_LOOP_VARIABLE, "uvloop" if options.get("use_uvloop") else "asyncio")
    if options.get("debug"):
        monkeypatch.setenv("PYTHONASYNCIODEBUG", "1")


@pytest.fixture(autouse=True)
def _restore_structlog() -> Iterator[None]:
    config = structlog.get_config()
    yield
    structlog.configure(**config)

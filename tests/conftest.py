"""Fixtures for every test: the event loop each test runs on, and structlog's state restored.

Every async test runs twice through anyio's ``anyio_backend`` fixture: on uvloop, the loop
``autocoder run`` uses in production, and on asyncio's own loop in debug mode, where a
coroutine never awaited, a callback scheduled from another thread or a resource left open
is reported (warnings are errors, see pyproject.toml). An ``autocoder`` process a test starts
runs on the same loop as the test (``AUTOCODER_EVENT_LOOP``, ``PYTHONASYNCIODEBUG``); tests
that only start processes ask for ``anyio_backend`` to run on both.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from autocoder.system import EVENT_LOOP_VARIABLE

ASYNC_BACKENDS = [
    pytest.param(("asyncio", {"debug": True}), id="asyncio"),
    pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
]


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

"""Fixtures for every test: the anyio backend, and structlog's global state restored."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _restore_structlog() -> Iterator[None]:
    config = structlog.get_config()
    yield
    structlog.configure(**config)

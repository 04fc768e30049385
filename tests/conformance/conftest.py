"""The backends the conformance suite runs on, and the fixtures its tests use.

Every test in this folder runs once per backend: memory, and whatever
``tests/conformance/backends.py`` adds (SQLite, PostgreSQL, MariaDB). A backend is a
``pytest.param`` whose value is a callable ``make(tmp_path)`` returning an async context manager
that yields a Store config on fresh storage (a new file or a uniquely named table) and removes
that storage on exit. A backend served by another Store class (V5EnhancedStore over a table)
names it as the callable's ``component`` attribute; the default is ``Store``. Nothing in the
tests knows which backend runs, except through ``StoreFactory.durable`` (memory is not).
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from autocoder.components.store import Store

MakeConfig = Callable[[Path], contextlib.AbstractAsyncContextManager[dict[str, Any]]]


@contextlib.asynccontextmanager
async def _memory(_tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    yield {"storage_type": "memory"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run each test on an ``-unbatched`` backend (group commit off) on one event loop only.

    Those backends exist to check the storage's semantics with every write alone; the loops'
    own differences are already checked by the same tests on the batched backends, which run on
    both. The loop is picked by a checksum of the test's id without the loop, as for tests
    marked ``processes`` (tests/README.md), so the unbatched runs split about evenly between
    the loops and the choice is the same on every run.
    """
    kept: list[pytest.Item] = []
    deselected: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or "unbatched" not in callspec.id:
            kept.append(item)
            continue
        loop, _, rest = callspec.id.partition("-")
        picked = ("asyncio", "uvloop")[zlib.crc32(f"{item.originalname}[{rest}]".encode()) % 2]
        (kept if loop == picked else deselected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


def _backend_params() -> list[Any]:
    params: list[Any] = [pytest.param(_memory, id="memory")]
    try:
        from tests.conformance.backends import backend_params
    except ImportError:
        return params
    return params + list(backend_params())


@dataclass
class StoreFactory:
    """Opens Stores on one backend's fresh storage; every store opened is closed at the end."""

    config: dict[str, Any]
    durable: bool
    opened: list[Store]
    component: type[Store] = Store

    async def open(self, name: str = "store") -> Store:
        store = self.component(name, dict(self.config))
        await store.setup()
        self.opened.append(store)
        return store

    async def close(self, store: Store) -> None:
        await store.cleanup()
        self.opened.remove(store)


@pytest.fixture(params=_backend_params())
async def store_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoreFactory]:
    make: MakeConfig = request.param
    component: type[Store] = getattr(make, "component", Store)
    async with make(tmp_path) as config:
        durable = component is not Store or config.get("storage_type") == "database"
        factory = StoreFactory(config, durable, [], component)
        try:
            yield factory
        finally:
            for store in list(factory.opened):
                await factory.close(store)


@pytest.fixture
async def store(store_factory: StoreFactory) -> Store:
    return await store_factory.open()

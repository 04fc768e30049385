"""The Store's pool settings reach the database backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from autocoder.components.store import Store

pytestmark = pytest.mark.anyio


async def test_pool_max_size_bounds_the_pool_and_the_store_concurrency(tmp_path: Path) -> None:
    config = {
        "storage_type": "database",
        "database_url": f"sqlite:///{tmp_path / 'pool.db'}",
        "pool_max_size": 2,
        "pool_timeout": 1.5,
        "command_timeout": 3,
    }
    store = Store("store", config)
    await store.setup()
    try:
        # One operation per connection, and the writes of a batch being committed and of
        # the next one (group commit, max_batch_size 100).
        assert store.concurrency == 2 + 2 * 100
        reply = await store.process_item({"action": "create", "data": {"x": 1}})
        assert reply["status"] == "success"
    finally:
        await store.cleanup()
    unbatched = Store("store", {**config, "max_batch_size": 1})
    await unbatched.setup()
    try:
        assert unbatched.concurrency == 2
    finally:
        await unbatched.cleanup()


@pytest.mark.parametrize(
    "bad", [{"pool_max_size": 0}, {"pool_timeout": 0}, {"command_timeout": -1}]
)
def test_bad_pool_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        Store("store", {"storage_type": "memory", **bad})

"""SqlDocumentBackend on real databases: what the Store relies on beyond the protocol suite."""

from __future__ import annotations

import anyio
import pytest

from autocoder.errors import (
    Conflict,
    DatabaseSchemaValidationError,
    NotFound,
    StartupError,
    ValidationFailed,
    VersionConflict,
)
from autocoder.storage.backend import ListQuery
from autocoder.storage.documents.backend import SqlDocumentBackend
from tests.integration.conftest import Opener

pytestmark = pytest.mark.anyio
T = "tasks"


def table(backend: SqlDocumentBackend) -> str:
    return backend.table_name


async def test_tenants_never_see_each_other(backend: SqlDocumentBackend) -> None:
    t = table(backend)
    await backend.create(t, "acme", "1", {"owner": "acme"})
    await backend.create(t, "zeta", "1", {"owner": "zeta"})
    got = await backend.get(t, "zeta", "1")
    assert got is not None and got.data == {"owner": "zeta"}
    assert [r.data for r in await backend.list(t, "acme", ListQuery())] == [{"owner": "acme"}]
    with pytest.raises(NotFound):
        await backend.delete(t, "other", "1", None)
    assert await backend.count(t) == 2


async def test_two_concurrent_expected_version_updates_one_wins(
    backend: SqlDocumentBackend,
) -> None:
    t = table(backend)
    await backend.create(t, "", "r", {"n": 0})
    outcomes: list[str] = []

    async def bump(n: int) -> None:
        try:
            await backend.write(t, "", "r", {"n": n}, merge=True, expected_version=1)
            outcomes.append("won")
        except VersionConflict:
            outcomes.append("lost")

    async with anyio.create_task_group() as tg:
        tg.start_soon(bump, 1)
        tg.start_soon(bump, 2)
    assert sorted(outcomes) == ["lost", "won"]
    record = await backend.get(t, "", "r")
    assert record is not None and record.version == 2


async def test_generated_ids_are_never_reused_after_a_restart(open_backend: Opener) -> None:
    first = open_backend()
    await first.connect()
    t = table(first)
    a = await first.create(t, "", None, {})
    b = await first.create(t, "", None, {})
    await first.delete(t, "", b.id, None)
    await first.close()
    second = open_backend()
    await second.connect()
    c = await second.create(t, "", None, {})
    assert c.id not in {a.id, b.id}


async def test_a_generated_id_skips_one_a_client_chose(backend: SqlDocumentBackend) -> None:
    t = table(backend)
    first = await backend.create(t, "", None, {})
    taken = str(int(first.id) + 1)
    await backend.create(t, "", taken, {})
    following = await backend.create(t, "", None, {})
    assert following.id not in {first.id, taken}


async def test_create_many_is_all_or_nothing(backend: SqlDocumentBackend) -> None:
    t = table(backend)
    made = await backend.create_many(t, "", [(None, {"i": i}) for i in range(50)] + [("x", {})])
    assert len({r.id for r in made}) == 51
    assert await backend.count(t) == 51
    with pytest.raises(Conflict, match="'x'"):
        await backend.create_many(t, "", [(None, {"new": True}), ("x", {})])
    assert await backend.count(t) == 51
    listed = await backend.list(t, "", ListQuery(limit=1000))
    assert [r.id for r in listed] == [r.id for r in made]


async def test_a_rolled_back_transaction_leaves_nothing(backend: SqlDocumentBackend) -> None:
    t = table(backend)
    await backend.create(t, "", "keep", {"v": 1})
    with pytest.raises(Conflict):
        async with backend.transaction() as ops:
            await ops.write(t, "", "keep", {"v": 2}, merge=True, expected_version=None)
            await ops.create(t, "", "new", {})
            await ops.create(t, "", "keep", {})
    kept = await backend.get(t, "", "keep")
    assert kept is not None and kept.data == {"v": 1} and kept.version == 1
    assert await backend.get(t, "", "new") is None


async def test_order_by_sorts_numbers_as_numbers_and_missing_last(
    backend: SqlDocumentBackend,
) -> None:
    t = table(backend)
    for i, value in enumerate([10, 9, None, "b", "B", 2.5, True]):
        await backend.create(t, "", str(i), {} if value is None else {"v": value})
    ordered = await backend.list(t, "", ListQuery(order_by="v"))
    assert [r.data.get("v", "-") for r in ordered] == ["B", "b", 2.5, 9, 10, True, "-"]
    backwards = await backend.list(t, "", ListQuery(order_by="v", descending=True))
    assert [r.data.get("v", "-") for r in backwards] == ["-", True, 10, 9, 2.5, "b", "B"]


async def test_an_existing_table_of_another_layout_stops_start_up(
    backend: SqlDocumentBackend, open_backend: Opener
) -> None:
    await backend.db.execute(f"ALTER TABLE {quoted(backend)} DROP COLUMN version")
    again = open_backend()
    with pytest.raises(DatabaseSchemaValidationError, match="missing column version") as caught:
        await again.connect()
    assert f"table {table(backend)!r}" in str(caught.value)
    assert not again.connected


def quoted(backend: SqlDocumentBackend) -> str:
    mark = "`" if backend.dialect == "mysql" else '"'
    return f"{mark}{backend.table_name}{mark}"


def test_a_table_name_that_is_not_an_identifier_is_refused() -> None:
    with pytest.raises(StartupError, match="invalid table_name 'tasks; DROP TABLE x'"):
        SqlDocumentBackend("sqlite:///x.db", table_name="tasks; DROP TABLE x")


async def test_health_names_the_database(backend: SqlDocumentBackend) -> None:
    health = backend.health()
    assert health["store_connected"] is True
    assert health["database_type"] == backend.dialect
    assert health["table_name"] == backend.table_name
    assert "secret" not in str(health)
    stats = backend.pool_stats()
    assert stats["in_use"] == 0 and stats["idle"] >= 1
    async with backend.db.connection():
        assert backend.pool_stats()["in_use"] == 1


async def test_a_value_the_database_cannot_hold_is_a_validation_error(
    backend: SqlDocumentBackend,
) -> None:
    t = table(backend)
    for tenant, data in (("t" * 300, {"a": 1}), ("", {"text": "nul \u0000 inside"})):
        try:
            record = await backend.create(t, tenant, None, data)
        except ValidationFailed as exc:
            assert "cannot be stored" in str(exc)
            assert backend.connected
        else:  # SQLite stores both
            assert backend.dialect == "sqlite" or tenant == ""
            got = await backend.get(t, tenant, record.id)
            assert got is not None and got.data == data


async def test_several_stores_starting_at_once_share_one_new_table(open_backend: Opener) -> None:
    backends = [open_backend() for _ in range(4)]
    async with anyio.create_task_group() as tg:
        for backend in backends:
            tg.start_soon(backend.connect)
    t = table(backends[0])
    made = [await backend.create(t, "", None, {}) for backend in backends]
    assert len({record.id for record in made}) == 4

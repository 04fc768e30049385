"""PostgreSQL databases reused from test to test: emptied, rather than dropped and made again.

A V5 test gets a database of its own (``tests/v5/conftest.py``, ``fresh_database``). On
PostgreSQL, CREATE DATABASE takes about 0.3 s on these machines (more while other runs load
them), which was most of a PostgreSQL V5 test's time. So a database a test is done with is
emptied (every connection to it ended, every schema dropped, an empty ``public`` made as CREATE
DATABASE makes it) and kept for the next test of this run; the databases left at the end of the
run are dropped (``pytest_sessionfinish`` in ``tests/conftest.py``). A database that cannot be
emptied is dropped at once. Names stay unique (``v5_`` and a random suffix), so runs of other
sessions on the same server never meet them.
"""

from __future__ import annotations

import asyncio

import asyncpg

__all__ = ["drop_spares", "empty_for_reuse", "take_spare"]

#: Emptied databases, by the admin URL of their server.
_spares: dict[str, list[str]] = {}

_SCHEMAS = (
    "SELECT nspname FROM pg_namespace"
    " WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'"
)


def take_spare(admin_url: str) -> str | None:
    """The name of an emptied database on that server to use, or None (make a new one)."""
    spares = _spares.get(admin_url)
    return spares.pop() if spares else None


async def empty_for_reuse(admin_url: str, url: str, name: str) -> None:
    """Empty database ``name`` (at ``url``) and keep it; drop it if that fails, then raise."""
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        try:
            await _empty(url)
        except BaseException:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            raise
    finally:
        await admin.close()
    _spares.setdefault(admin_url, []).append(name)


async def _empty(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            for (schema,) in await connection.fetch(_SCHEMAS):
                await connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
            # As CREATE DATABASE makes it on PostgreSQL 15 and later.
            await connection.execute("CREATE SCHEMA public AUTHORIZATION pg_database_owner")
            await connection.execute("GRANT USAGE ON SCHEMA public TO PUBLIC")
    finally:
        await connection.close()


def drop_spares() -> None:
    """Drop every database kept for reuse (at the end of the run)."""

    async def drop(admin_url: str, names: list[str]) -> None:
        admin = await asyncpg.connect(admin_url)
        try:
            while names:
                await admin.execute(f"DROP DATABASE IF EXISTS {names.pop()} WITH (FORCE)")
        finally:
            await admin.close()

    for admin_url, names in _spares.items():
        if names:
            asyncio.run(drop(admin_url, names))

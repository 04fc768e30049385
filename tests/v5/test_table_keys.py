"""Keys per tenant, creation order, batch errors by operation, and a failed setup that lets go.

The conformance suite (``tests/conformance``, ids ``v5-*``) runs every action on a document
table; these tests hold the same behaviour on tables with one column per field.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.v5.conftest import Fresh
from tests.v5.helpers import opened

pytestmark = pytest.mark.anyio

#: Text ids chosen by the caller, unique per tenant, and a sequence giving creation order.
ITEMS = {
    "version": "1",
    "description": "items: ids per tenant, in creation order",
    "sql": {
        "postgresql": (
            "CREATE TABLE items (tenant_id VARCHAR(255) NOT NULL DEFAULT '',"
            " id VARCHAR(255) NOT NULL, name VARCHAR(50) NOT NULL, code VARCHAR(20) UNIQUE,"
            " version INTEGER NOT NULL DEFAULT 1, seq BIGSERIAL NOT NULL,"
            " PRIMARY KEY (tenant_id, id))"
        ),
        "mysql": (
            "CREATE TABLE items (tenant_id VARCHAR(255) NOT NULL DEFAULT '',"
            " id VARCHAR(255) NOT NULL, name VARCHAR(50) NOT NULL, code VARCHAR(20) UNIQUE,"
            " version INTEGER NOT NULL DEFAULT 1, seq BIGINT NOT NULL AUTO_INCREMENT UNIQUE,"
            " PRIMARY KEY (tenant_id, id))"
        ),
        "sqlite": (  # the rowid gives creation order
            "CREATE TABLE items (tenant_id TEXT NOT NULL DEFAULT '', id TEXT NOT NULL,"
            " name VARCHAR(50) NOT NULL, code VARCHAR(20) UNIQUE,"
            " version INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (tenant_id, id))"
        ),
    },
}


async def test_two_tenants_may_use_one_id(fresh: Fresh) -> None:
    async with opened(fresh, ["items"], [ITEMS]) as store:
        for tenant in ("a", "b"):
            reply = await store.process_item(
                {"action": "create", "tenant": tenant, "id": "r1", "data": {"name": tenant}}
            )
            assert reply["status"] == "success", reply
        got = await store.process_item({"action": "get", "tenant": "b", "id": "r1"})
        assert got["data"] == {"id": "r1", "name": "b", "code": None}
        again = await store.process_item(
            {"action": "create", "tenant": "a", "id": "r1", "data": {"name": "x"}}
        )
        assert again["error_type"] == "conflict"
        assert (await store.process_item({"action": "get", "id": "r1"}))["status"] == "not_found"


async def test_list_follows_creation_order_not_key_order(fresh: Fresh) -> None:
    async with opened(fresh, ["items"], [ITEMS]) as store:
        for record_id, name in [("zeta", "b"), ("alpha", "a"), ("mid", "b")]:
            await store.process_item({"action": "create", "id": record_id, "data": {"name": name}})
        listed = await store.process_item({"action": "list"})
        assert [r["id"] for r in listed["data"]] == ["zeta", "alpha", "mid"]
        assert "seq" not in listed["data"][0]  # the store keeps it, like the version
        by_name = await store.process_item({"action": "list", "order_by": "name"})
        assert [r["id"] for r in by_name["data"]] == ["alpha", "zeta", "mid"]


async def test_a_unique_violation_in_a_batch_names_its_operation(fresh: Fresh) -> None:
    async with opened(fresh, ["items"], [ITEMS]) as store:
        first = {"action": "create", "id": "a", "data": {"name": "a", "code": "X"}}
        await store.process_item(first)
        reply = await store.process_item(
            {
                "action": "batch",
                "operations": [
                    {"action": "create", "id": "b", "data": {"name": "b", "code": "Y"}},
                    {"action": "update", "id": "a", "data": {"name": "a2"}},
                    {"action": "create", "id": "c", "data": {"name": "c", "code": "X"}},
                ],
            }
        )
        assert reply["error_type"] == "conflict", reply
        assert reply["index"] == 2
        listed = await store.process_item({"action": "list"})
        assert listed["data"] == [{"id": "a", "name": "a", "code": "X"}]


async def test_a_without_rowid_table_lists_in_key_order(cwd: Path) -> None:
    fresh = Fresh("sqlite:///keys.db", "sqlite", "keys")
    table = {
        "version": "1",
        "sql": "CREATE TABLE tags (id TEXT PRIMARY KEY, label TEXT) WITHOUT ROWID",
    }
    async with opened(fresh, ["tags"], [table]) as store:
        for record_id in ("b", "c", "a"):
            await store.process_item({"action": "create", "id": record_id, "data": {}})
        listed = await store.process_item({"action": "list"})
        assert [r["id"] for r in listed["data"]] == ["a", "b", "c"]


def test_a_failed_setup_lets_the_process_exit(tmp_path: Path) -> None:
    script = (
        "import asyncio\n"
        "from autocoder.components.enhanced_store import V5EnhancedStore\n"
        "from autocoder.errors import DatabaseSchemaValidationError\n"
        "async def main():\n"
        f"    url = 'sqlite:///{tmp_path}/x.db'\n"
        "    schema = {'tables': ['nope']}\n"
        "    database = {'type': 'sqlite', 'connection_string': url, 'schema': schema}\n"
        "    store = V5EnhancedStore('s', {'database': database})\n"
        "    try:\n"
        "        await store.setup()\n"
        "    except DatabaseSchemaValidationError as exc:\n"
        "        print('refused:', exc)\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "refused: table missing" in done.stdout

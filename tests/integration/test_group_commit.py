"""Group commit (SPEC 12) on every database, under a Store and a V5EnhancedStore.

Concurrent writes are committed together, and yet each is answered as if it had run alone:
a failing write (a taken id, a missing record, a version conflict) fails alone and the others
of its batch commit; concurrent updates of one record get each version exactly once; and
``autocoder_store_batch_size`` shows the batches, never larger than ``max_batch_size``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from autocoder.components.store import Store
from autocoder.observability.metrics import SystemMetrics
from autocoder.storage.sql.database import Database
from autocoder.storage.sql.dialects import quote
from tests.conformance.backends import MYSQL_URL, MakeConfig, backend_params

pytestmark = pytest.mark.anyio


#: The databases under both stores, on their defaults (group commit on); each test sets
#: ``max_batch_size`` itself where it needs another.
BATCHED = [param for param in backend_params() if not str(param.id).endswith("-unbatched")]


#: Those of them under a Store (a document table).
DOCUMENTS = [p for p in BATCHED if getattr(p.values[0], "component", Store) is Store]


@contextlib.asynccontextmanager
async def opener(make: MakeConfig, tmp_path: Path) -> AsyncIterator[Any]:
    """Opens stores (with metrics) on one backend's fresh storage; closed at the end."""
    component: type[Store] = getattr(make, "component", Store)
    async with make(tmp_path) as config, contextlib.AsyncExitStack() as stack:

        async def open_store(**options: Any) -> Store:
            store = component("store", {**config, **options})
            store.metrics = SystemMetrics()
            await store.setup()
            stack.push_async_callback(store.cleanup)
            return store

        yield open_store


@pytest.fixture(params=BATCHED)
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    async with opener(request.param, tmp_path) as open_store:
        yield open_store


@pytest.fixture(params=DOCUMENTS)
async def make_document_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    async with opener(request.param, tmp_path) as open_store:
        yield open_store


async def together(store: Store, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every message sent at once; the replies in the messages' order."""
    replies: list[dict[str, Any]] = [{} for _ in messages]

    async def send(index: int, message: dict[str, Any]) -> None:
        replies[index] = await store.process_item(message)

    async with anyio.create_task_group() as tg:
        for index, message in enumerate(messages):
            tg.start_soon(send, index, message)
    return replies


def batch_sizes(store: Store) -> list[float]:
    """The size of every transaction the store committed, from its histogram (bucket bounds)."""
    assert store.metrics is not None
    family = store.metrics.store_batch_size.family()
    counts = {s.labels["le"]: s.value for s in family.samples if s.name.endswith("_bucket")}
    sizes, below = [], 0.0
    for bound, cumulative in counts.items():
        sizes += [float(bound)] * int(cumulative - below)
        below = cumulative
    return sizes


async def test_failing_writes_fail_alone_and_the_others_commit(make_store: Any) -> None:
    store = await make_store()
    for name in ("a", "b", "c"):
        reply = await store.process_item({"action": "create", "id": name, "data": {"n": 0}})
        assert reply["status"] == "success", reply
    messages: list[dict[str, Any]] = [
        {"action": "update", "id": "a", "data": {"n": 1}},  # runs alone: the others queue
        {"action": "create", "id": "dup", "data": {"first": True}},
        {"action": "update", "id": "missing", "data": {"n": 1}},
        {"action": "create", "id": "dup", "data": {"first": False}},
        {"action": "update", "id": "b", "expected_version": 5, "data": {"n": 1}},
        {"action": "create", "id": "new", "data": {"n": 1}},
        {"action": "delete", "id": "c"},
        {"action": "replace", "id": "b", "data": {"n": 2}},
        {"action": "create", "id": "a", "data": {}},
        {"action": "delete", "id": "missing"},
    ]
    replies = await together(store, messages)
    outcome = [r.get("error_type", r["status"]) for r in replies]
    # Sent at once, they went in batches and ran in the order they were sent.
    assert outcome == [
        "success",
        "success",
        "not_found",
        "conflict",
        "version_conflict",
        "success",
        "success",
        "success",
        "conflict",
        "not_found",
    ], replies
    assert max(batch_sizes(store)) > 1.0, batch_sizes(store)
    assert replies[4]["current_version"] == 1
    assert replies[7]["version"] == 2
    listed = await store.process_item({"action": "list", "limit": 100})
    documents = {d["id"]: d for d in listed["data"]}
    assert sorted(documents) == ["a", "b", "dup", "new"]
    assert documents["dup"]["first"] is True
    assert documents["b"] == {"id": "b", "n": 2}
    got = await store.process_item({"action": "get", "id": "a"})
    assert (got["data"], got["version"]) == ({"id": "a", "n": 1}, 2)


async def test_concurrent_updates_of_one_record_get_each_version_once(make_store: Any) -> None:
    store = await make_store()
    created = await store.process_item({"action": "create", "id": "r", "data": {"hits": []}})
    assert created["status"] == "success"
    replies = await together(
        store, [{"action": "update", "id": "r", "data": {f"f{i}": i}} for i in range(40)]
    )
    assert sorted(r["version"] for r in replies) == list(range(2, 42)), replies
    for i, reply in enumerate(replies):  # its own field, and one per update before it
        assert reply["data"][f"f{i}"] == i
        assert len(reply["data"]) == reply["version"] + 1  # id, hits, and one per update
    contested = await together(
        store,
        [
            {"action": "update", "id": "r", "expected_version": 41, "data": {"w": i}}
            for i in range(20)
        ],
    )
    winners = [r for r in contested if r["status"] == "success"]
    assert len(winners) == 1 and winners[0]["version"] == 42
    losers = [r for r in contested if r["status"] != "success"]
    assert {(r["error_type"], r["current_version"]) for r in losers} == {("version_conflict", 42)}


async def test_concurrent_writes_are_committed_in_batches_of_at_most_max_batch_size(
    make_store: Any,
) -> None:
    store = await make_store(max_batch_size=5)
    replies = await together(store, [{"action": "create", "data": {"i": i}} for i in range(60)])
    assert all(r["status"] == "success" for r in replies), replies
    assert len({r["id"] for r in replies}) == 60
    sizes = batch_sizes(store)
    assert sum(sizes) >= 60  # buckets round up: at least every write is counted
    assert max(sizes) <= 8  # the bucket holding 5
    assert any(size > 1 for size in sizes), sizes
    listed = await store.process_item({"action": "list", "limit": 100})
    assert listed["count"] == 60


async def test_max_batch_size_1_commits_every_write_alone(make_store: Any) -> None:
    store = await make_store(max_batch_size=1)
    replies = await together(store, [{"action": "create", "data": {"i": i}} for i in range(30)])
    assert all(r["status"] == "success" for r in replies), replies
    assert batch_sizes(store) == [1.0] * 30


async def test_a_batch_numbers_its_changes_as_one_write_at_a_time_would(make_store: Any) -> None:
    store = await make_store()
    created = await store.process_item({"action": "create", "id": "r", "data": {}})
    assert created["status"] == "success"
    messages: list[dict[str, Any]] = [
        {"action": "update", "id": "r", "data": {"n": i}} for i in range(10)
    ]
    messages += [{"action": "create", "data": {"i": i}} for i in range(10)]
    messages += [{"action": "update", "id": "missing", "data": {}}]  # no change, no seq
    replies = await together(store, messages)
    assert [r["status"] for r in replies] == ["success"] * 20 + ["not_found"]
    collection = store.backend.collections()[0].name
    events = await store.backend.changes_after(collection, 0, 10**9, 1000)
    assert [e["seq"] for e in events] == list(range(1, 22))  # gap-free, one per change
    updates = [e for e in events if e["id"] == "r"]
    assert [e["version"] for e in updates] == list(range(1, 12))  # versions in seq order
    created_ids = {r["id"] for r in replies[10:20]}
    assert {e["id"] for e in events if e["event"] == "created"} == created_ids | {"r"}
    listed = await store.process_item({"action": "list", "limit": 100})
    assert listed["seq"] == 21


#: A trigger that makes a write's statement fail in the database when the record's new data
#: has a field ``boom`` (per dialect; ``{t}`` the table, ``{name}`` a name of the test's own).
BOOM_TRIGGER = {
    "sqlite": [
        "CREATE TRIGGER {name} BEFORE UPDATE ON {t} "
        "WHEN json_extract(NEW.data, '$.boom') IS NOT NULL "
        "BEGIN SELECT RAISE(ABORT, 'boom'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.data ? 'boom' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$",
        "CREATE TRIGGER {name} BEFORE UPDATE ON {t} FOR EACH ROW EXECUTE FUNCTION {name}()",
    ],
    "mysql": [
        f"CREATE TRIGGER {{name}}_{event} BEFORE {event} ON {{t}} FOR EACH ROW BEGIN "
        "IF JSON_EXTRACT(NEW.data, '$.boom') IS NOT NULL THEN "
        "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'boom'; END IF; END"
        for event in ("INSERT", "UPDATE")
    ],
}


@contextlib.asynccontextmanager
async def installed(backend: Any, trigger: dict[str, list[str]], name: str) -> AsyncIterator[None]:
    """``trigger`` (its statements for the backend's dialect) on the store's table for the
    block; PostgreSQL's function is dropped after it (MySQL's triggers go with the table)."""
    dialect = backend.dialect
    for statement in trigger[dialect]:
        await backend.db.execute(statement.format(t=quote(backend.table_name, dialect), name=name))
    try:
        yield
    finally:
        if dialect == "postgresql":
            await backend.db.execute(f"DROP FUNCTION IF EXISTS {name}() CASCADE")


async def test_a_write_whose_statement_fails_in_the_database_fails_alone(
    make_document_store: Any,
) -> None:
    store = await make_document_store(pool_max_size=1)  # one batch at a time: the four after
    backend = store.backend  # the first go together, in the order sent
    name = f"boom_{backend.table_name}"[:60]
    async with installed(backend, BOOM_TRIGGER, name):
        for record_id in ("a", "b", "c"):
            reply = await store.process_item({"action": "create", "id": record_id, "data": {}})
            assert reply["status"] == "success", reply
        messages: list[dict[str, Any]] = [
            {"action": "update", "id": "a", "data": {"n": 1}},  # runs alone: the others queue
            {"action": "update", "id": "b", "data": {"n": 1}},
            {"action": "update", "id": "c", "data": {"boom": 1}},  # its statement fails
            {"action": "create", "id": "d", "data": {"n": 1}},
            {"action": "update", "id": "b", "data": {"m": 2}},
        ]
        replies = await together(store, messages)
        assert max(batch_sizes(store)) > 1, batch_sizes(store)
        alone = await store.process_item({"action": "update", "id": "c", "data": {"boom": 1}})
        assert alone["status"] == "error", alone
        assert [r["status"] for r in replies] == ["success"] * 2 + ["error"] + ["success"] * 2
        assert replies[2]["error_type"] == alone["error_type"], (replies[2], alone)
        assert (replies[1]["version"], replies[4]["version"]) == (2, 3)
        assert replies[4]["data"] == {"id": "b", "n": 1, "m": 2}
        got = await store.process_item({"action": "get", "id": "c"})
        assert (got["data"], got["version"]) == ({"id": "c"}, 1)
        collection = backend.collections()[0].name
        events = await backend.changes_after(collection, 0, 10**9, 1000)
        assert [e["seq"] for e in events] == list(range(1, 8))  # 3 creates, 4 changes
        assert [(e["id"], e["version"]) for e in events[3:]] == [
            ("a", 2),
            ("b", 2),
            ("d", 1),
            ("b", 3),
        ]


#: A trigger that stalls a write whose data has a "slow" key, for longer than the statement
#: time bound of the test's store.
SLOW_TRIGGER = {
    "postgresql": [
        "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.data ? 'slow' THEN PERFORM pg_sleep(1.2); END IF; RETURN NEW; END $$",
        "CREATE TRIGGER {name} BEFORE UPDATE ON {t} FOR EACH ROW EXECUTE FUNCTION {name}()",
    ],
    "mysql": [
        f"CREATE TRIGGER {{name}}_{event} BEFORE {event} ON {{t}} FOR EACH ROW BEGIN "
        "IF JSON_EXTRACT(NEW.data, '$.slow') IS NOT NULL THEN SET @slept = SLEEP(1.2); END IF; "
        "END"
        for event in ("INSERT", "UPDATE")
    ],
}


async def test_a_batch_whose_commit_is_cut_off_answers_each_write_with_that_error(
    make_document_store: Any,
) -> None:
    """The statement that commits a batch (PostgreSQL's one statement; MySQL's last text,
    which holds COMMIT) runs past the time bound: nobody knows whether the batch committed,
    so every write of it is answered with the timeout, as a write alone would be."""
    store = await make_document_store(command_timeout=0.4, pool_max_size=1)  # one batch
    backend = store.backend
    dialect = backend.dialect
    if dialect not in SLOW_TRIGGER:
        pytest.skip(f"{dialect}: a batch whose statement fails is rolled back in its thread")
    table = backend.table_name
    name = f"slow_{table}"[:60]
    for record_id in ("a", "b", "c"):
        reply = await store.process_item({"action": "create", "id": record_id, "data": {}})
        assert reply["status"] == "success", reply
    async with installed(backend, SLOW_TRIGGER, name):
        replies = await together(
            store,
            [
                {"action": "update", "id": "a", "data": {"n": 1}},
                {"action": "update", "id": "b", "data": {"slow": 1}},
                {"action": "update", "id": "c", "data": {"n": 1}},
            ],
        )
        assert [(r["status"], r.get("error_type")) for r in replies] == [("error", "timeout")] * 3
        assert max(batch_sizes(store)) > 1, batch_sizes(store)
        with anyio.fail_after(10):  # MySQL: the cut-off transaction ends when its sleep does
            while True:
                after = await store.process_item({"action": "update", "id": "c", "data": {"m": 1}})
                if after["status"] == "success":
                    break
                assert after["error_type"] == "timeout", after


async def test_a_batch_keeps_every_tenant_id_and_value_as_written(make_store: Any) -> None:
    store = await make_store()
    odd = "é€😀 ' \" \\ % ? $1 \n\t;"
    tenants = ["", "t1", odd]
    data = {"text": odd, "nested": {"a": [1, 2.5, None, True]}, "empty": ""}
    for tenant in tenants:
        for record_id in ("plain", odd):
            reply = await store.process_item(
                {"action": "create", "tenant": tenant, "id": record_id, "data": {"n": 0}}
            )
            assert reply["status"] == "success", reply
    messages: list[dict[str, Any]] = [{"action": "create", "data": {"first": True}}]
    for tenant in tenants:
        for record_id in ("plain", odd):
            messages.append(
                {"action": "update", "tenant": tenant, "id": record_id, "data": dict(data)}
            )
        messages.append({"action": "create", "tenant": tenant, "id": odd + "new", "data": data})
        messages.append({"action": "delete", "tenant": tenant, "id": "plain"})
    replies = await together(store, messages)
    assert all(r["status"] == "success" for r in replies), replies
    assert max(batch_sizes(store)) > 1, batch_sizes(store)
    for tenant in tenants:
        got = await store.process_item({"action": "get", "tenant": tenant, "id": odd})
        assert (got["data"], got["version"]) == ({"id": odd, "n": 0, **data}, 2), got
        new = await store.process_item({"action": "get", "tenant": tenant, "id": odd + "new"})
        assert new["data"] == {"id": odd + "new", **data}, new
        gone = await store.process_item({"action": "get", "tenant": tenant, "id": "plain"})
        assert gone["status"] == "not_found", (tenant, gone)


async def test_a_batch_of_updates_only_answers_each_as_alone(make_document_store: Any) -> None:
    store = await make_document_store()
    backend = store.backend
    name = f"boom_{backend.table_name}"[:60]
    for record_id in "abcde":
        reply = await store.process_item({"action": "create", "id": record_id, "data": {"n": 0}})
        assert reply["status"] == "success", reply
    messages: list[dict[str, Any]] = [
        {"action": "update", "id": "a", "data": {"n": 1}},  # runs alone: the others queue
        {"action": "update", "id": "b", "data": {"n": 1, "more": [1]}},
        {"action": "update", "id": "missing", "data": {"n": 1}},
        {"action": "replace", "id": "c", "data": {"m": 2}},
        {"action": "update", "id": "d", "expected_version": 7, "data": {"n": 1}},
        {"action": "update", "id": "e", "expected_version": 1, "data": {}},
    ]
    replies = await together(store, messages)
    assert [r.get("error_type", r["status"]) for r in replies] == [
        "success",
        "success",
        "not_found",
        "success",
        "version_conflict",
        "success",
    ], replies
    assert max(batch_sizes(store)) > 1, batch_sizes(store)
    assert replies[1]["data"] == {"id": "b", "n": 1, "more": [1]}
    assert (replies[3]["data"], replies[3]["version"]) == ({"id": "c", "m": 2}, 2)
    assert replies[4]["current_version"] == 1
    assert (replies[5]["data"], replies[5]["version"]) == ({"id": "e", "n": 0}, 2)
    collection = backend.collections()[0].name
    events = await backend.changes_after(collection, 0, 10**9, 1000)
    assert [e["seq"] for e in events] == list(range(1, 10))  # 5 creates, 4 changes
    # Different records' writes may commit in two batches at once, in either order.
    changes = sorted(events[5:], key=lambda e: e["id"])
    assert [(e["event"], e["id"], e["version"], e["data"]) for e in changes] == [
        ("updated", "a", 2, {"id": "a", "n": 1}),
        ("updated", "b", 2, {"id": "b", "n": 1, "more": [1]}),
        ("replaced", "c", 2, {"id": "c", "m": 2}),
        ("updated", "e", 2, {"id": "e", "n": 0}),
    ]
    async with installed(backend, BOOM_TRIGGER, name):  # now one of them fails in the database
        replies = await together(
            store,
            [
                {"action": "update", "id": "a", "data": {"n": 2}},
                {"action": "update", "id": "b", "data": {"n": 2}},
                {"action": "update", "id": "c", "data": {"boom": 1}},
                {"action": "update", "id": "d", "data": {"n": 2}},
            ],
        )
        assert [r["status"] for r in replies] == ["success", "success", "error", "success"]
        assert [replies[i]["version"] for i in (0, 1, 3)] == [3, 3, 2]
        events = await backend.changes_after(collection, 9, 10**9, 1000)
        assert [e["seq"] for e in events] == [10, 11, 12]
        assert sorted(e["id"] for e in events) == ["a", "b", "d"]


async def test_generated_ids_a_client_chose_before_are_skipped_in_a_batch(
    make_store: Any,
) -> None:
    store = await make_store()
    chosen = {str(n) for n in range(3, 9)}
    for record_id in sorted(chosen):
        reply = await store.process_item({"action": "create", "id": record_id, "data": {}})
        assert reply["status"] == "success", reply
    replies = await together(store, [{"action": "create", "data": {"i": i}} for i in range(8)])
    assert all(r["status"] == "success" for r in replies), replies
    ids = [r["id"] for r in replies]
    assert len(set(ids)) == 8 and not set(ids) & chosen, ids
    for reply, i in zip(replies, range(8), strict=True):
        got = await store.process_item({"action": "get", "id": reply["id"]})
        assert got["data"] == {"id": reply["id"], "i": i}, got
    collection = store.backend.collections()[0].name
    events = await store.backend.changes_after(collection, 0, 10**9, 1000)
    assert [e["seq"] for e in events] == list(range(1, 15))  # gap-free
    assert {e["id"] for e in events[6:]} == set(ids)


async def test_a_slow_commit_does_not_hold_up_the_writes_that_come_during_it(
    make_document_store: Any,
) -> None:
    """On a server database two batches commit at once: writes that come while one is
    stalled in the database (a trigger sleeps) commit without waiting for it; a write of the
    stalled record waits for it, and commits after it. SQLite writes one at a time."""
    store = await make_document_store()
    backend = store.backend
    dialect = backend.dialect
    if dialect not in SLOW_TRIGGER:
        pytest.skip("SQLite's one connection commits one batch at a time")
    table = backend.table_name
    name = f"slow_{table}"[:60]
    for record_id in ("a", "b", "c"):
        reply = await store.process_item({"action": "create", "id": record_id, "data": {}})
        assert reply["status"] == "success", reply
    done: list[str] = []
    replies: dict[str, dict[str, Any]] = {}

    async def send(label: str, message: dict[str, Any]) -> None:
        replies[label] = await store.process_item(message)
        done.append(label)

    async with installed(backend, SLOW_TRIGGER, name), anyio.create_task_group() as tg:
        tg.start_soon(send, "slow a", {"action": "update", "id": "a", "data": {"slow": 1}})
        await anyio.sleep(0.3)  # in the database, sleeping 1.2 s
        tg.start_soon(send, "b", {"action": "update", "id": "b", "data": {"n": 1}})
        tg.start_soon(send, "c", {"action": "update", "id": "c", "data": {"n": 1}})
        tg.start_soon(send, "then a", {"action": "update", "id": "a", "data": {"n": 1}})
        with anyio.fail_after(0.8):  # well before the stalled commit ends
            while len(done) < 2:
                await anyio.sleep(0.01)
        assert sorted(done) == ["b", "c"]
    assert done[2:] == ["slow a", "then a"]
    assert all(r["status"] == "success" for r in replies.values()), replies
    assert (replies["slow a"]["version"], replies["then a"]["version"]) == (2, 3)
    assert replies["then a"]["data"] == {"id": "a", "slow": 1, "n": 1}


async def test_a_batch_whose_lock_wait_times_out_leaves_no_transaction_open(
    make_document_store: Any,
) -> None:
    """MySQL: a lock wait past ``innodb_lock_wait_timeout`` fails the statement but leaves its
    transaction open, holding what it locked (here the id counter row its reservation took).
    None of the batch commits, and its writes run again one by one: the update whose record
    another transaction holds times out, as it would alone, and the create commits with
    the next id, no id skipped."""
    holder = Database(MYSQL_URL, max_size=1)
    await holder.connect()
    try:
        store = await make_document_store(pool_max_size=1)  # one batch at a time
        backend = store.backend
        if backend.dialect != "mysql":
            pytest.skip("a lock wait timeout that leaves the transaction open is MySQL's")
        # The store's one connection waits 1 s for a lock; the session's setting, not the
        # server's, so that no other connection (another test's, run beside it) waits less.
        await backend.db.execute("SET SESSION innodb_lock_wait_timeout = 1")
        reply = await store.process_item({"action": "create", "data": {"n": 0}})
        assert (reply["status"], reply["id"]) == ("success", "1"), reply
        async with holder.transaction() as conn:
            t = quote(backend.table_name, "mysql")
            await conn.fetch(f"SELECT data FROM {t} WHERE tenant = '' AND id = '1' FOR UPDATE")
            replies = await together(
                store,
                [
                    {"action": "update", "id": "1", "data": {"n": 1}},  # waits, times out
                    {"action": "create", "data": {"n": 2}},
                ],
            )
    finally:
        await holder.disconnect()
    assert max(batch_sizes(store)) > 1, batch_sizes(store)
    assert (replies[0]["status"], replies[0].get("error_type")) == ("error", "timeout"), replies
    assert (replies[1]["status"], replies[1].get("id")) == ("success", "2"), replies
    after = await store.process_item({"action": "create", "data": {"n": 3}})
    assert (after["status"], after["id"]) == ("success", "3"), after


async def test_a_batch_of_creates_makes_its_id_counter_row_again_when_it_is_gone(
    make_document_store: Any,
) -> None:
    """MySQL: generated ids come from the table's row of the id counters. With that row gone,
    a batch of creates makes it again and takes its ids from it, never from a value an
    earlier statement left in ``LAST_INSERT_ID()`` (the seq counter's, here ahead of the
    ids)."""
    store = await make_document_store()
    backend = store.backend
    if backend.dialect != "mysql":
        pytest.skip("the id counter rows are MySQL's")
    first = await together(store, [{"action": "create", "data": {"n": n}} for n in range(4)])
    for n in range(30):  # the seqs run ahead of the ids: the last seq given is no taken id
        reply = await store.process_item({"action": "update", "id": "1", "data": {"m": n}})
        assert reply["status"] == "success", reply
    table = backend.table_name
    await backend.db.execute("DELETE FROM autocoder_id_counters WHERE table_name = ?", table)
    replies = await together(store, [{"action": "create", "data": {"i": i}} for i in range(8)])
    assert max(batch_sizes(store)) > 1, batch_sizes(store)
    assert all(r["status"] == "success" for r in first + replies), first + replies
    ids = [r["id"] for r in first + replies]
    assert len(set(ids)) == 12 and all(record_id.isdigit() for record_id in ids), ids
    counter = await backend.db.fetch_val(
        "SELECT next_id FROM autocoder_id_counters WHERE table_name = ?", table
    )
    assert counter is not None and counter >= max(int(r["id"]) for r in replies), (counter, ids)


async def test_a_batch_of_creates_only_keeps_their_events_as_written(make_store: Any) -> None:
    store = await make_store()
    odd = "é€😀 ' \" \\ % ? $1 \n\t;"
    data: dict[str, Any] = {"text": odd, "nested": {odd: [1, 2.5, None, True]}}
    messages: list[dict[str, Any]] = [{"action": "create", "data": {}}]  # alone: others queue
    messages += [
        {"action": "create", "tenant": odd, "id": odd + str(i), "data": data} for i in (1, 2)
    ]
    messages += [
        {"action": "create", "data": {}},
        {"action": "create", "tenant": odd, "data": data},
    ]
    replies = await together(store, messages)
    assert all(r["status"] == "success" for r in replies), replies
    assert max(batch_sizes(store)) > 1, batch_sizes(store)
    collection = store.backend.collections()[0].name
    events = await store.backend.changes_after(collection, 0, 10**9, 1000)
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    for event, message, reply in zip(events, messages, replies, strict=True):
        tenant = message.get("tenant", "")
        assert (event["event"], event["tenant"], event["id"]) == ("created", tenant, reply["id"])
        assert event["version"] == 1
        assert event["data"] == {"id": reply["id"], **message["data"]} == reply["data"]


async def test_a_batch_of_large_records_is_committed_whole(make_store: Any) -> None:
    store = await make_store()
    big = "x" * 300_000  # on MySQL a batch's texts are split at about 1 MB: these need several
    for record_id in "abc":
        reply = await store.process_item({"action": "create", "id": record_id, "data": {}})
        assert reply["status"] == "success", reply
    messages: list[dict[str, Any]] = [{"action": "create", "data": {"n": -1}}]  # alone
    messages += [
        {"action": "update", "id": record_id, "data": {"big": big + record_id}}
        for record_id in "abc"
    ]
    messages += [{"action": "create", "id": f"new{i}", "data": {"big": big}} for i in range(3)]
    replies = await together(store, messages)
    assert all(r["status"] == "success" for r in replies), [r["status"] for r in replies]
    assert max(batch_sizes(store)) > 1, batch_sizes(store)
    for record_id in "abc":
        got = await store.process_item({"action": "get", "id": record_id})
        assert (got["data"]["big"], got["version"]) == (big + record_id, 2)
    alone = await store.process_item({"action": "update", "id": "a", "data": {"more": big}})
    assert alone["version"] == 3 and len(alone["data"]["more"]) == 300_000
    collection = store.backend.collections()[0].name
    events = await store.backend.changes_after(collection, 0, 10**9, 1000)
    assert [e["seq"] for e in events] == list(range(1, 12))
    assert events[-1]["data"]["more"] == big

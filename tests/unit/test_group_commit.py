"""GroupCommit's queue: who waits, who leads, what goes together, what a cancellation does.

The writes here are committed by a small store of this file (a dict) whose commit waits on
an event the test sets, so each test decides when a commit ends.
"""

from __future__ import annotations

import anyio
import pytest

from autocoder.errors import NotFound
from autocoder.storage.changes.change import Change
from autocoder.storage.group_commit import GroupCommit, Write, batches_at_once, writers
from autocoder.storage.records import Record

pytestmark = pytest.mark.anyio


class DictStore:
    """Creates into a dict; each commit (one write alone, or a batch) waits for ``release``."""

    def __init__(self, max_batch_size: int, batches: int = 1) -> None:
        self.records: dict[str, Record] = {}
        #: Each commit's writes when it began, and when it ended.
        self.started: list[list[str]] = []
        self.commits: list[list[str]] = []
        self.release = anyio.Event()
        self.sizes: list[int] = []
        self.group = GroupCommit(
            run_one=self.one,
            run_batch=self.batch,
            max_batch_size=max_batch_size,
            batches=batches,
            observe=self.sizes.append,
        )

    def _create(self, write: Write) -> Change:
        assert write.record_id is not None
        if write.record_id == "missing":
            raise NotFound("update", write.record_id)
        record = Record(write.record_id, dict(write.data or {}), 1)
        self.records[write.record_id] = record
        return write.change(record)

    async def one(self, write: Write) -> Change:
        self.started.append([str(write.record_id)])
        await self.release.wait()
        self.commits.append([str(write.record_id)])
        return self._create(write)

    async def batch(self, writes: list[Write]) -> None:
        self.started.append([str(w.record_id) for w in writes])
        await self.release.wait()
        self.commits.append([str(w.record_id) for w in writes])
        for write in writes:
            try:
                write.outcome = self._create(write)
            except NotFound as exc:
                write.outcome = exc

    async def submit(self, record_id: str, results: dict[str, object]) -> None:
        try:
            results[record_id] = await self.group.submit(Write("create", "t", "", record_id, {}))
        except NotFound as exc:
            results[record_id] = exc


async def settle() -> None:
    for _ in range(5):
        await anyio.sleep(0)


async def test_writes_arriving_during_a_commit_go_together_into_the_next() -> None:
    store = DictStore(max_batch_size=100)
    results: dict[str, object] = {}
    async with anyio.create_task_group() as tg:
        tg.start_soon(store.submit, "a", results)
        await settle()
        for name in ("b", "c", "missing", "d"):
            tg.start_soon(store.submit, name, results)
        await settle()
        assert store.group.waiting == 4  # "a" is being committed alone
        store.release.set()
    assert store.commits == [["a"], ["b", "c", "missing", "d"]]
    assert store.sizes == [1, 4]
    assert isinstance(results["missing"], NotFound)  # failed alone
    assert sorted(store.records) == ["a", "b", "c", "d"]


async def test_a_batch_holds_at_most_max_batch_size_writes() -> None:
    store = DictStore(max_batch_size=2)
    results: dict[str, object] = {}
    async with anyio.create_task_group() as tg:
        for name in "abcdef":
            tg.start_soon(store.submit, name, results)
        await settle()
        store.release.set()
    assert store.commits == [["a", "b"], ["c", "d"], ["e", "f"]]
    assert len(results) == 6


async def test_writes_made_in_one_loop_turn_go_together_at_once() -> None:
    store = DictStore(max_batch_size=100)
    store.release.set()
    results: dict[str, object] = {}
    async with anyio.create_task_group() as tg:
        for name in "abc":
            tg.start_soon(store.submit, name, results)
    assert store.commits == [["a", "b", "c"]]
    assert store.sizes == [3]


async def test_max_batch_size_1_runs_every_write_alone_at_once() -> None:
    store = DictStore(max_batch_size=1)
    store.release.set()
    results: dict[str, object] = {}
    async with anyio.create_task_group() as tg:
        for name in "abc":
            tg.start_soon(store.submit, name, results)
    assert sorted(store.commits) == [["a"], ["b"], ["c"]]
    assert store.group.waiting == 0


async def test_a_cancelled_waiting_write_is_never_run() -> None:
    store = DictStore(max_batch_size=100)
    results: dict[str, object] = {}
    async with anyio.create_task_group() as tg:
        tg.start_soon(store.submit, "a", results)
        await settle()
        tg.start_soon(store.submit, "b", results)
        await settle()
        async with anyio.create_task_group() as inner:
            inner.start_soon(store.submit, "gone", results)
            await settle()
            inner.cancel_scope.cancel()
        tg.start_soon(store.submit, "c", results)
        await settle()
        store.release.set()
    assert store.commits == [["a"], ["b", "c"]]
    assert "gone" not in store.records and "gone" not in results


async def test_a_cancelled_leader_still_commits_its_batch_for_the_others() -> None:
    store = DictStore(max_batch_size=100)
    results: dict[str, object] = {}
    async with anyio.create_task_group() as tg:
        tg.start_soon(store.submit, "a", results)
        await settle()
        async with anyio.create_task_group() as leader:
            leader.start_soon(store.submit, "b", results)  # leads the next batch
            await settle()
            tg.start_soon(store.submit, "c", results)
            await settle()
            store.release.set()  # "a" ends: "b" leads ["b", "c"] ...
            await anyio.sleep(0)
            leader.cancel_scope.cancel()  # ... and is cancelled while committing it
    assert store.commits == [["a"], ["b", "c"]]
    assert isinstance(results["c"], Change)


def test_a_store_runs_enough_operations_at_once_to_fill_two_batches() -> None:
    assert writers(4, 1) == 4
    assert writers(4, 100) == 204
    with pytest.raises(ValueError, match="at least 1"):
        GroupCommit(run_one=DictStore(1).one, run_batch=DictStore(1).batch, max_batch_size=0)


class GatedStore(DictStore):
    """A DictStore whose commits each wait on a gate of their own: ``end(n)`` ends the n-th
    commit begun."""

    def __init__(self, max_batch_size: int, batches: int) -> None:
        super().__init__(max_batch_size, batches)
        self.gates: list[anyio.Event] = []

    async def _wait(self) -> None:
        gate = anyio.Event()
        self.gates.append(gate)
        await gate.wait()

    async def one(self, write: Write) -> Change:
        self.started.append([str(write.record_id)])
        await self._wait()
        self.commits.append([str(write.record_id)])
        return self._create(write)

    async def batch(self, writes: list[Write]) -> None:
        self.started.append([str(w.record_id) for w in writes])
        await self._wait()
        self.commits.append([str(w.record_id) for w in writes])
        for write in writes:
            write.outcome = self._create(write)

    async def end(self, n: int) -> None:
        self.gates[n].set()
        await settle()


async def test_with_two_batches_at_once_writes_of_one_turn_split_in_two_committing_together() -> (
    None
):
    store = GatedStore(max_batch_size=100, batches=2)
    results: dict[str, object] = {}
    async with anyio.create_task_group() as tg:
        for name in "abcde":
            tg.start_soon(store.submit, name, results)
        await settle()
        assert store.started == [["a", "b", "c"], ["d", "e"]]  # both committing
        assert store.group.waiting == 0
        await store.end(1)
        await store.end(0)
    assert sorted(results) == list("abcde")
    assert all(isinstance(r, Change) for r in results.values())


async def test_a_write_arriving_while_one_batch_commits_starts_the_second_at_once() -> None:
    store = GatedStore(max_batch_size=100, batches=2)
    results: dict[str, object] = {}
    async with anyio.create_task_group() as tg:
        tg.start_soon(store.submit, "a", results)
        await settle()
        for name in "bc":
            tg.start_soon(store.submit, name, results)
        await settle()
        assert store.started == [["a"], ["b", "c"]]  # not waiting for "a"'s commit
        for name in "de":  # two committing: these wait for one of them to end
            tg.start_soon(store.submit, name, results)
        await settle()
        assert store.group.waiting == 2 and len(store.started) == 2
        await store.end(1)  # the second ends first: the waiting go together, at once
        assert store.started[2] == ["d", "e"]
        assert "a" not in results and isinstance(results["b"], Change)
        await store.end(0)
        await store.end(2)
    assert store.commits == [["b", "c"], ["a"], ["d", "e"]]


async def test_a_write_whose_record_a_committing_batch_writes_waits_for_it() -> None:
    store = GatedStore(max_batch_size=100, batches=2)
    results: dict[str, object] = {}
    async with anyio.create_task_group() as tg:
        for name in ("a", "x", "b", "x", "c"):
            tg.start_soon(store.submit, name, results)
        await settle()
        # the first batch takes half; the second, all the rest but the second write of "x"
        assert store.started == [["a", "x", "b"], ["c"]]
        await store.end(1)
        assert len(store.started) == 2  # "x" still waits for the first batch
        await store.end(0)
        assert store.started[2] == ["x"]
        await store.end(2)
    assert store.commits == [["c"], ["a", "x", "b"], ["x"]]


async def test_a_cancelled_waiting_write_is_never_run_with_two_batches_at_once() -> None:
    store = GatedStore(max_batch_size=100, batches=2)
    results: dict[str, object] = {}
    async with anyio.create_task_group() as tg:
        tg.start_soon(store.submit, "a", results)
        tg.start_soon(store.submit, "b", results)
        await settle()
        assert store.started == [["a"], ["b"]]
        async with anyio.create_task_group() as gone:
            gone.start_soon(store.submit, "gone", results)  # waits: two are committing
            await settle()
            gone.cancel_scope.cancel()
        tg.start_soon(store.submit, "c", results)
        await settle()
        await store.end(0)
        assert store.started[2] == ["c"]
        await store.end(1)
        await store.end(2)
    assert "gone" not in store.records and "gone" not in results
    assert store.group.waiting == 0 and isinstance(results["c"], Change)


def test_server_databases_commit_two_batches_at_once_and_sqlite_one() -> None:
    assert batches_at_once("postgresql", 4) == 2
    assert batches_at_once("mysql", 4) == 2
    assert batches_at_once("mysql", 1) == 1  # a second batch would only wait for a connection
    assert batches_at_once("sqlite", 1) == 1
    assert writers(4, 100, batches=2) == 304
    with pytest.raises(ValueError, match="batches must be at least 1"):
        GroupCommit(
            run_one=DictStore(1).one, run_batch=DictStore(1).batch, max_batch_size=2, batches=0
        )

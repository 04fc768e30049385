"""Gets that wait for a connection share one statement (``storage/documents/reads.py``), on
every database under a Store, and each caller still gets what it would get alone."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from autocoder.components.store import Store
from autocoder.storage.backend import Record
from autocoder.storage.documents.reads import ReadsTogether
from tests.conformance.backends import MakeConfig, backend_params

pytestmark = pytest.mark.anyio

STORES = [
    param
    for param in backend_params()
    if not str(param.id).endswith("-unbatched") and not str(param.id).startswith("v5-")
]


@pytest.fixture(params=STORES)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    make: MakeConfig = request.param
    async with make(tmp_path) as config:
        opened = Store("store", config)
        await opened.setup()
        try:
            yield opened
        finally:
            await opened.cleanup()


async def gather(store: Store, messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    replies: list[dict[str, Any]] = [{} for _ in messages]

    async def send(index: int, message: dict[str, Any]) -> None:
        replies[index] = await store.process_item(dict(message))

    async with anyio.create_task_group() as tg:
        for index, message in enumerate(messages):
            tg.start_soon(send, index, message)
    return replies


def reads_of(store: Store) -> ReadsTogether:
    reads = getattr(store.backend, "reads", None)
    assert isinstance(reads, ReadsTogether)
    return reads


async def test_concurrent_gets_are_read_together_and_answered_as_alone(store: Store) -> None:
    await gather(store, [{"action": "create", "id": f"r{n}", "data": {"n": n}} for n in range(40)])
    # Ids 0..49: 40 exist, 10 do not; each asked for four times, by 200 callers at once.
    wanted = [f"r{n % 50}" for n in range(200)]
    replies = await gather(store, [{"action": "get", "id": record_id} for record_id in wanted])
    for record_id, reply in zip(wanted, replies, strict=True):
        n = int(record_id[1:])
        if n < 40:
            assert reply["status"] == "success", reply
            assert reply["data"] == {"n": n, "id": record_id}
            assert reply["version"] == 1
        else:
            assert reply["status"] == "not_found", reply
    reads = reads_of(store)
    assert reads.batches > 0, "no get was read together with another"
    assert (reads.waiting, reads.running) == (0, 0)


async def test_callers_asking_for_one_record_get_data_of_their_own(store: Store) -> None:
    await store.process_item({"action": "create", "id": "shared", "data": {"tags": ["a"]}})
    replies = await gather(store, [{"action": "get", "id": "shared"}] * 64)
    assert all(reply["data"]["tags"] == ["a"] for reply in replies)
    replies[0]["data"]["tags"].append("changed by one caller")
    assert all(reply["data"]["tags"] == ["a"] for reply in replies[1:])


async def test_a_get_after_a_write_was_answered_sees_the_write(store: Store) -> None:
    callers = 16
    await gather(
        store, [{"action": "create", "id": f"w{n}", "data": {"n": 0}} for n in range(callers)]
    )
    stale: list[tuple[str, int, Any]] = []

    async def write_then_read(record_id: str) -> None:
        for n in range(1, 16):
            reply = await store.process_item(
                {"action": "update", "id": record_id, "data": {"n": n}}
            )
            assert reply["status"] == "success", reply
            read = await store.process_item({"action": "get", "id": record_id})
            if read["data"]["n"] != n:
                stale.append((record_id, n, read))

    async with anyio.create_task_group() as tg:
        for n in range(callers):
            tg.start_soon(write_then_read, f"w{n}")
    assert not stale


# -- the queue itself, on functions standing for the two reads -----------------------------


async def test_a_failing_batch_fails_every_get_of_it_and_the_limit_holds() -> None:
    running = 0
    most = 0
    fail = True
    read_together: set[str] = set()

    async def one(collection: str, tenant: str, record_id: str) -> Record | None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await anyio.sleep(0.01)
        running -= 1
        return Record(record_id, {}, 1)

    async def many(collection: str, tenant: str, ids: Sequence[str]) -> dict[str, Record]:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await anyio.sleep(0.01)
        running -= 1
        read_together.update(ids)
        if fail:
            raise RuntimeError("the statement failed")
        return {record_id: Record(record_id, {}, 1) for record_id in ids}

    reads = ReadsTogether(run_one=one, run_many=many, limit=2)
    outcomes: dict[str, str] = {}

    async def get(record_id: str) -> None:
        try:
            await reads.get("c", "", record_id)
            outcomes[record_id] = "ok"
        except RuntimeError as exc:
            outcomes[record_id] = str(exc)

    async with anyio.create_task_group() as tg:
        for n in range(10):
            tg.start_soon(get, str(n))
    assert most <= 2
    failed = {record_id for record_id, outcome in outcomes.items() if outcome != "ok"}
    assert failed == read_together  # every get of a failing statement, and only those
    assert len(failed) >= 2
    assert {"0", "1"}.isdisjoint(failed)  # these found room and ran alone
    fail = False
    async with anyio.create_task_group() as tg:
        for n in range(10):
            tg.start_soon(get, str(n))
    assert set(outcomes.values()) == {"ok"}
    assert reads.batches >= 2


async def test_cancelled_gets_leave_nothing_behind() -> None:
    async def one(collection: str, tenant: str, record_id: str) -> Record | None:
        await anyio.sleep(0.002)
        return Record(record_id, {}, 1)

    async def many(collection: str, tenant: str, ids: Sequence[str]) -> dict[str, Record]:
        await anyio.sleep(0.002)
        return {record_id: Record(record_id, {}, 1) for record_id in ids}

    reads = ReadsTogether(run_one=one, run_many=many, limit=2)
    answered = 0

    async def give_up_soon(record_id: str, after: float) -> None:
        nonlocal answered
        with anyio.move_on_after(after):
            assert await reads.get("c", "", record_id) == Record(record_id, {}, 1)
            answered += 1

    async with anyio.create_task_group() as tg:
        for n in range(200):  # queued, leading, alone: cancelled at every stage
            tg.start_soon(give_up_soon, str(n % 7), (n % 13) / 1000)
    assert 0 < answered < 200
    assert (reads.waiting, reads.running) == (0, 0)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for n in range(32):
                tg.start_soon(give_up_soon, str(n), 5)
    assert (reads.waiting, reads.running) == (0, 0)

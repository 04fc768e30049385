"""``GET /{collection}?watch=true``: Server-Sent Events of a collection's committed changes."""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest

from tests.http.sse import ServerSentEvent, events
from tests.http.support import Running, Serve

pytestmark = pytest.mark.anyio


def blueprint(endpoint: str = "", store: str = "") -> str:
    return f"""
system:
  name: watch_test
  components:
    - name: api
      type: FastAPIEndpoint
      config: {{port: 0, request_timeout: 5{endpoint}}}
    - name: store
      type: Store
      config: {{storage_type: memory{store}}}
    - name: metrics
      type: MetricsEndpoint
      config: {{port: 0}}
  bindings:
    - {{from_component: api, to_component: store, stream_name: input}}
"""


async def changes(
    stream: AsyncIterator[ServerSentEvent], count: int, timeout: float = 10
) -> list[ServerSentEvent]:
    got: list[ServerSentEvent] = []
    with anyio.fail_after(timeout):
        async for item in stream:
            if item.event == "change":
                got.append(item)
                if len(got) == count:
                    break
    return got


async def create(r: Running, data: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = await r.client.post("/tasks", json=data, headers=headers)
    assert response.status_code == 201, response.text
    reply: dict[str, Any] = response.json()
    return reply


async def test_a_watch_streams_each_change_as_an_event_with_its_seq(serve: Serve) -> None:
    async with (
        serve(blueprint()) as r,
        r.client.stream("GET", "/tasks", params={"watch": "true"}) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = events(response)
        first = await anext(stream)
        assert first.retry == 1000
        made = await create(r, {"title": "a"})
        patched = await r.client.patch(f"/tasks/{made['id']}", json={"done": True})
        assert patched.status_code == 200
        assert (await r.client.delete(f"/tasks/{made['id']}")).status_code == 204
        got = await changes(stream, 3)
    assert [e.id for e in got] == ["1", "2", "3"]
    assert [e.data["event"] for e in got if e.data] == ["created", "updated", "deleted"]
    assert got[1].data == {
        "event": "updated",
        "collection": "tasks",
        "tenant": "",
        "id": made["id"],
        "version": 2,
        "data": {"id": made["id"], "title": "a", "done": True},
        "seq": 2,
    }


async def test_since_and_last_event_id_resume_after_a_seq(serve: Serve) -> None:
    async with serve(blueprint()) as r:
        for n in range(5):
            await create(r, {"n": n})
        listed = (await r.client.get("/tasks")).json()
        assert listed["seq"] == 5
        params = {"watch": "true", "since": "1"}
        async with r.client.stream("GET", "/tasks", params=params) as response:
            from_since = await changes(events(response), 4)
        headers = {"Last-Event-ID": "3"}  # wins over since
        async with r.client.stream("GET", "/tasks", params=params, headers=headers) as response:
            from_header = await changes(events(response), 2)
    assert [e.id for e in from_since] == ["2", "3", "4", "5"]
    assert [e.id for e in from_header] == ["4", "5"]


async def test_filters_and_tenants_pick_the_changes_a_watcher_sees(serve: Serve) -> None:
    async with serve(blueprint()) as r:
        params = {"watch": "true", "since": "0", "done": "true"}
        headers = {"X-Tenant-ID": "acme"}
        await create(r, {"done": True}, **{"X-Tenant-ID": "zeta"})
        await create(r, {"done": False}, **headers)
        await create(r, {"done": True}, **headers)
        async with r.client.stream("GET", "/tasks", params=params, headers=headers) as response:
            got = await changes(events(response), 1)
    assert [(e.id, e.data and e.data["tenant"]) for e in got] == [("3", "acme")]


async def test_watchers_sharing_a_round_each_get_their_own_tenant_and_filters(
    serve: Serve,
) -> None:
    # The feed encodes a round once per cursor, tenant and filters: watchers alike share it,
    # the others must still get exactly theirs.
    watches = [("acme", {"done": "true"}), ("acme", {"done": "true"}), ("acme", {}), ("zeta", {})]
    async with serve(blueprint()) as r, contextlib.AsyncExitStack() as stack:
        streams = []
        for tenant, where in watches:
            response = await stack.enter_async_context(
                r.client.stream(
                    "GET",
                    "/tasks",
                    params={"watch": "true", **where},
                    headers={"X-Tenant-ID": tenant},
                )
            )
            stream = events(response)
            assert (await anext(stream)).retry == 1000
            streams.append(stream)
        writes = [("acme", True), ("zeta", True), ("acme", False), ("acme", True), ("zeta", False)]

        async def write(n: int) -> None:
            tenant, done = writes[n]
            await create(r, {"n": n, "done": done}, **{"X-Tenant-ID": tenant})

        async with anyio.create_task_group() as tg:  # together: in one round of the feed
            for n in range(len(writes)):
                tg.start_soon(write, n)
        got = []
        for stream, count in zip(streams, [2, 2, 3, 2], strict=True):
            seen = await changes(stream, count)
            assert [int(e.id or 0) for e in seen] == sorted(int(e.id or 0) for e in seen)
            got.append(sorted(e.data["data"]["n"] for e in seen if e.data))
    assert got == [[0, 3], [0, 3], [0, 2, 3], [1, 4]]


async def test_a_tenant_bound_key_forces_its_tenant_on_a_watch(serve: Serve) -> None:
    keys = ", api_keys: [{key: acme-key, tenant: acme}, admin-key]"
    async with serve(blueprint(endpoint=keys)) as r:
        unauthorized = await r.client.get("/tasks", params={"watch": "true"})
        assert unauthorized.status_code == 401
        await create(r, {"who": "zeta"}, Authorization="Bearer admin-key", **{"X-Tenant-ID": "z"})
        await create(r, {"who": "acme"}, Authorization="Bearer acme-key")
        headers = {"Authorization": "Bearer acme-key", "X-Tenant-ID": "z"}
        params = {"watch": "true", "since": "0"}
        async with r.client.stream("GET", "/tasks", params=params, headers=headers) as response:
            got = await changes(events(response), 1)
    assert got[0].id == "2" and got[0].data and got[0].data["data"]["who"] == "acme"


@pytest.mark.parametrize(
    ("params", "headers", "status", "error"),
    [
        ({"since": "1"}, {}, 422, "'since' needs watch=true"),
        ({"watch": "yes"}, {}, 422, "'watch' must be true or false"),
        ({"watch": "true", "since": "x"}, {}, 422, "'since' must be an integer"),
        ({"watch": "true"}, {"Last-Event-ID": "x"}, 422, "'Last-Event-ID' must be an integer"),
        ({"watch": "true", "limit": "5"}, {}, 422, "'limit' pages a list"),
        ({"watch": "true", "since": "99"}, {}, 422, "since 99 is past the latest change"),
        ({"watch": "true", "since": "1"}, {}, 410, "no longer kept"),
    ],
)
async def test_a_watch_that_cannot_start_answers_an_error_before_any_event(
    serve: Serve, params: dict[str, str], headers: dict[str, str], status: int, error: str
) -> None:
    async with serve(blueprint(store=", changes_retention: 2")) as r:
        for n in range(10):
            await create(r, {"n": n})
        await r.component("store").feeds.trim_now()
        response = await r.client.get("/tasks", params=params, headers=headers)
    assert response.status_code == status, response.text
    assert error in response.json()["message"]
    if status == 410:
        assert response.json()["error_type"] == "gone"


async def test_an_idle_watch_gets_keep_alive_comments(serve: Serve) -> None:
    comments: list[str] = []
    async with (
        serve(blueprint(endpoint=", heartbeat_seconds: 0.2")) as r,
        r.client.stream("GET", "/tasks", params={"watch": "true"}) as response,
    ):
        with anyio.fail_after(5):
            async for item in events(response):
                if item.comment is not None:
                    comments.append(item.comment)
                    if len(comments) == 2:
                        break
    assert comments == ["keep-alive", "keep-alive"]


async def test_a_watcher_whose_filters_pass_over_a_stream_of_changes_gets_keep_alives(
    serve: Serve,
) -> None:
    # The feed wakes its watchers for every round and every tick: one with nothing to send
    # must still send its heartbeat on time, and then the change it does want.
    async with (
        serve(blueprint(endpoint=", heartbeat_seconds: 0.2")) as r,
        r.client.stream("GET", "/tasks", params={"watch": "true", "done": "true"}) as response,
    ):
        stream = events(response)
        assert (await anext(stream)).retry == 1000
        seen: list[str] = []

        async def write() -> None:
            for n in range(40):
                await create(r, {"n": n, "done": False})
                await anyio.sleep(0.02)
            await create(r, {"n": 40, "done": True})

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(write)
                async for item in stream:
                    seen.append(item.comment or item.event or "")
                    if item.event == "change":
                        assert item.data is not None and item.data["data"]["n"] == 40
                        break
    assert seen[-1] == "change"
    assert seen.count("keep-alive") >= 2  # 0.8 s of changes it does not want


async def test_an_idle_watch_ends_soon_after_its_endpoint_stops_accepting(serve: Serve) -> None:
    # No change and no heartbeat due (15 s): only the feed's tick wakes the watcher to see
    # the endpoint stopping, well before uvicorn's graceful shutdown would give up on it.
    async with (
        serve(blueprint()) as r,
        r.client.stream("GET", "/tasks", params={"watch": "true"}) as response,
    ):
        stream = events(response)
        assert (await anext(stream)).retry == 1000
        started = anyio.current_time()
        await r.component("api").stop_accepting()
        with anyio.fail_after(5):
            rest = [item async for item in stream]
        assert rest == []
        assert anyio.current_time() - started < 2


async def test_a_lagging_watcher_is_disconnected_and_resumes_missing_nothing(
    serve: Serve,
) -> None:
    async with serve(blueprint()) as r:
        r.component("store").feeds.buffer = 3
        seen: list[ServerSentEvent] = []
        async with r.client.stream("GET", "/tasks", params={"watch": "true"}) as response:
            stream = events(response)
            await anext(stream)  # the head and retry: the watch is open
            operations = [{"action": "create", "data": {"n": n}} for n in range(20)]
            batch = await r.client.post(
                "/actions/input", json={"action": "batch", "operations": operations}
            )
            assert batch.status_code == 200
            ended_with = None
            with anyio.fail_after(10):
                async for item in stream:
                    if item.event == "change":
                        seen.append(item)
                    elif item.comment is not None:
                        ended_with = item.comment
        assert ended_with == "lagged"
        last = seen[-1].id if seen else "0"
        headers = {"Last-Event-ID": str(last)}
        async with r.client.stream(
            "GET", "/tasks", params={"watch": "true"}, headers=headers
        ) as response:
            seen += await changes(events(response), 20 - len(seen))
    assert [e.id for e in seen] == [str(n) for n in range(1, 21)]


async def test_a_caught_up_watcher_is_written_by_the_feeds_own_task(serve: Serve) -> None:
    # The server's ``send`` must be a coroutine the feed's task can step: if it stopped being
    # one, every watcher would quietly fall back to a task wake-up per round.
    async with (
        serve(blueprint()) as r,
        r.client.stream("GET", "/tasks", params={"watch": "true"}) as response,
    ):
        stream = events(response)
        await anext(stream)
        await create(r, {"n": 1})
        await changes(stream, 1)
        feed = r.component("store").feeds.feed("tasks")
        with anyio.fail_after(5):
            while not feed.pushed:
                await anyio.sleep(0.01)
        (subscription,) = feed.pushed
        sink = subscription._sink  # the response's: what the feed's task hands a round to
        taken: list[tuple[bytes, bool]] = []

        def noting(text: bytes) -> bool:
            took = sink(text)
            taken.append((text, took))
            return took

        subscription._sink = noting
        await create(r, {"n": 2})
        got = await changes(stream, 1)
    assert [e.id for e in got] == ["2"]
    assert [took for text, took in taken if text] == [True]  # written there and then


async def test_watchers_and_watch_events_are_metrics(serve: Serve) -> None:
    async with serve(blueprint()) as r:
        metrics = httpx.AsyncClient(base_url=r.url_of("metrics"))
        async with metrics, r.client.stream("GET", "/tasks", params={"watch": "true"}) as response:
            stream = events(response)
            await anext(stream)
            await create(r, {"n": 1})
            await changes(stream, 1)
            text = (await metrics.get("/metrics")).text
    assert 'autocoder_watchers{collection="tasks",component="store"} 1.0' in text
    assert 'autocoder_watch_events_total{component="store"} 1.0' in text


async def test_openapi_describes_the_watch(serve: Serve) -> None:
    async with serve(blueprint()) as r:
        schema = (await r.client.get("/openapi.json")).json()
    operation = schema["paths"]["/tasks"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"watch", "since", "Last-Event-ID"} <= names
    assert "text/event-stream" in operation["responses"]["200"]["content"]
    assert "410" in operation["responses"]


async def test_a_watcher_that_stops_reading_holds_up_no_other_and_later_gets_every_change(
    serve: Serve,
) -> None:
    # A client that reads nothing fills its socket: the feed's task cannot write that
    # watcher's rounds at once, so it leaves them to the watcher's own task, which waits on the
    # socket while the other watcher gets every change; once read, nothing is missing.
    count, payload = 300, "x" * 16000
    async with serve(blueprint()) as r:
        host, port = "127.0.0.1", int(r.url_of("api").rsplit(":", 1)[1])
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.settimeout(10)
        stalled.connect((host, port))
        with stalled:
            stalled.sendall(f"GET /tasks?watch=true HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            head = await anyio.to_thread.run_sync(stalled.recv, 65536)
            assert head.startswith(b"HTTP/1.1 200")
            async with r.client.stream("GET", "/tasks", params={"watch": "true"}) as response:
                stream = events(response)
                assert (await anext(stream)).retry == 1000
                for n in range(count):
                    await create(r, {"n": n, "payload": payload})
                seen = await changes(stream, count)
            assert [e.id for e in seen] == [str(n) for n in range(1, count + 1)]

            def read_to_the_last() -> bytes:
                stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
                data = head
                while f"id: {count}\n".encode() not in data:
                    data += stalled.recv(1 << 20)
                return data

            data = await anyio.to_thread.run_sync(read_to_the_last)
    ids = re.findall(rb"^id: (\d+)$", data, flags=re.MULTILINE)
    assert [int(i) for i in ids] == list(range(1, count + 1))

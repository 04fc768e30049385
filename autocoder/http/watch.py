"""``GET /{collection}?watch=true``: a collection's changes as Server-Sent Events.

The response is ``text/event-stream`` and stays open. It starts with ``retry: 1000`` (a
browser's ``EventSource`` reconnects after one second, sending ``Last-Event-ID``), then one
event per committed change of the collection in the request's tenant, in seq order::

    id: 42
    event: change
    data: {"event":"updated","collection":"tasks",...,"seq":42}

(the events of one round of the feed are written at once, encoded and joined once for every
watcher with the same tenant and filters; while a watcher is caught up, the feed's own task
writes its rounds, see ``EventStream``), and a comment line ``: keep-alive`` whenever
nothing was sent for ``heartbeat_seconds``. Every check (a ``since`` too old: 410 ``gone``;
past the latest seq, or a bad parameter: 422) is made before the response head. A watcher that
fell a whole buffer behind is disconnected: the stream ends (after the comment ``: lagged``),
and the client resumes from its last id.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine, Generator
from types import CoroutineType
from typing import Any

import anyio
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from autocoder.errors import StoreError, WatcherLagged
from autocoder.http.inputs import watch_request
from autocoder.http.status import reply_response
from autocoder.store.feed import Subscription

#: Opens a watch: (collection, since, tenant, where) → its subscription.
OpenWatch = Callable[[str, int | None, str, dict[str, Any]], Awaitable[Subscription]]

#: Longest wait between two looks at whether the endpoint is stopping.
_STOP_CHECK_SECONDS = 0.5


async def watch_response(
    request: Request,
    collection: str,
    tenant: str,
    open_watch: OpenWatch,
    *,
    heartbeat_seconds: float,
    stopping: Callable[[], bool],
) -> Response:
    """The event stream of ``collection``'s changes for ``request``, or the error reply."""
    since, where = watch_request(request.query_params, request.headers.get("last-event-id"))
    try:
        subscription = await open_watch(collection, since, tenant, where)
    except StoreError as exc:
        return reply_response(exc.to_reply(), "list")
    return EventStream(subscription, heartbeat_seconds, stopping)


def event_text(event: dict[str, Any]) -> bytes:
    """One change as a Server-Sent Event."""
    return b"id: %d\nevent: change\ndata: %s\n\n" % (event["seq"], orjson.dumps(event))


class EventStream(Response):
    """The response of a watch: what Starlette's ``StreamingResponse`` does with a generator of
    the events (the stream ends when the client disconnects, found by a task waiting on
    ``receive``, or on ``OSError`` from ``send`` where the server says so), written as one loop.

    Each round of the feed costs every watcher a pass through this loop, so it has no layer
    it does not need: the loop awaits the subscription and sends the round's bytes itself,
    where a generator in a ``StreamingResponse`` would add an ``asend`` and a second loop.
    One write per round of the feed: its events joined, encoded once for all watchers. No
    timer of its own: the feed wakes its watchers (``b""`` with no events) often enough for
    the heartbeat and for seeing the endpoint stop.
    """

    media_type = "text/event-stream"

    def __init__(
        self, subscription: Subscription, heartbeat_seconds: float, stopping: Callable[[], bool]
    ) -> None:
        self.subscription = subscription
        self.heartbeat_seconds = heartbeat_seconds
        self.stopping = stopping
        self.status_code = 200
        self.background = None
        self.send: Send = _not_started
        self.last_sent = 0.0
        #: The rest of a write started by the feed's task that had to wait (``_take``).
        self.waiting: Awaitable[None] | None = None
        self.failed: Exception | None = None
        self.init_headers({"cache-control": "no-cache", "x-accel-buffering": "no"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        spec = scope.get("asgi", {}).get("spec_version", "2.0")
        if tuple(map(int, spec.split("."))) >= (2, 4):
            # The server raises OSError from ``send`` once the client is gone.
            try:
                await self._stream(send)
            except OSError:
                self.subscription.close()
            return
        async with anyio.create_task_group() as tasks:

            async def until_disconnected() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                tasks.cancel_scope.cancel()

            tasks.start_soon(until_disconnected)
            try:
                await self._stream(send)
            finally:
                tasks.cancel_scope.cancel()

    async def _stream(self, send: Send) -> None:
        subscription, stopping = self.subscription, self.stopping
        subscription.wake_every(min(self.heartbeat_seconds / 2, _STOP_CHECK_SECONDS))
        self.send = send
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await self._send(b"retry: 1000\n\n")
            while not stopping():
                if subscription.can_push():
                    # Caught up: the feed's task writes each round itself (``_take``).
                    await subscription.pushed(self._take, event_text)
                    if self.waiting is not None:  # a write the socket could not take at once
                        waiting, self.waiting = self.waiting, None
                        await waiting
                    if self.failed is not None:
                        raise self.failed
                    continue
                text = await subscription.next_encoded(event_text)
                if text is None:
                    break  # the store stopped
                if text:
                    await self._send(text)
                elif time.monotonic() - self.last_sent >= self.heartbeat_seconds:
                    await self._send(b": keep-alive\n\n")
        except WatcherLagged:
            await self._send(b": lagged\n\n")
        finally:
            subscription.close()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _send(self, text: bytes) -> None:
        await self.send({"type": "http.response.body", "body": text, "more_body": True})
        self.last_sent = time.monotonic()

    def _take(self, text: bytes) -> bool:
        """A round (or tick) handed over by the feed's task while this watcher is pushed:
        written now if the server takes it without waiting; False (out of push mode) when
        the endpoint is stopping or the write must wait, which this watcher's own task then
        finishes (``_Finish``), so the feed never waits for a slow client."""
        if self.stopping():
            return False
        if not text:
            if time.monotonic() - self.last_sent < self.heartbeat_seconds:
                return True
            text = b": keep-alive\n\n"
        sending = self.send({"type": "http.response.body", "body": text, "more_body": True})
        if not isinstance(sending, CoroutineType):  # not one to step: the task awaits it
            self.waiting = sending
            return False
        try:
            waits_on = sending.send(None)
        except StopIteration:
            self.last_sent = time.monotonic()
            return True
        except Exception as exc:  # raised in this watcher's task, not the feed's
            self.failed = exc
            return False
        self.waiting = _Finish(sending, waits_on)
        return False


async def _not_started(message: Message) -> None:
    raise AssertionError("the response has not started")


class _Finish:
    """Awaiting it runs the rest of a coroutine that was stepped once and suspended (on
    ``waits_on``, what its first step yielded), as ``await`` would have: what lets the
    feed's task start a watcher's write and leave the rest to the watcher's own task."""

    def __init__(self, coroutine: Coroutine[Any, Any, Any], waits_on: Any) -> None:
        self.coroutine = coroutine
        self.waits_on = waits_on

    def __await__(self) -> Generator[Any, Any, None]:
        coroutine, waits_on = self.coroutine, self.waits_on
        while True:
            try:
                sent = yield waits_on
            except BaseException as exc:  # thrown in by the task: passed on
                try:
                    waits_on = coroutine.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    waits_on = coroutine.send(sent)
                except StopIteration:
                    return

"""``GET /{collection}?watch=true``: a collection's changes as Server-Sent Events.

The response is ``text/event-stream`` and stays open. It starts with ``retry: 1000`` (a
browser's ``EventSource`` reconnects after one second, sending ``Last-Event-ID``), then one
event per committed change of the collection in the request's tenant, in seq order::

    id: 42
    event: change
    data: {"event":"updated","collection":"tasks",...,"seq":42}

(the events of one round of the feed are written at once, encoded and joined once for every
watcher with the same tenant and filters), and a comment line ``: keep-alive`` whenever
nothing was sent for ``heartbeat_seconds``. Every check (a ``since`` too old: 410 ``gone``;
past the latest seq, or a bad parameter: 422) is made before the response head. A watcher that
fell a whole buffer behind is disconnected: the stream ends (after the comment ``: lagged``),
and the client resumes from its last id.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

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
    return StreamingResponse(
        _events(subscription, heartbeat_seconds, stopping),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


def event_text(event: dict[str, Any]) -> bytes:
    """One change as a Server-Sent Event."""
    return b"id: %d\nevent: change\ndata: %s\n\n" % (event["seq"], orjson.dumps(event))


async def _events(
    subscription: Subscription, heartbeat_seconds: float, stopping: Callable[[], bool]
) -> AsyncIterator[bytes]:
    # One write per round of the feed: its events joined, encoded once for all watchers. No
    # timer of its own: the feed wakes its watchers (b"" with no events) often enough for
    # the heartbeat and for seeing the endpoint stop.
    subscription.wake_every(min(heartbeat_seconds / 2, _STOP_CHECK_SECONDS))
    try:
        yield b"retry: 1000\n\n"
        last_sent = time.monotonic()
        while not stopping():
            text = await subscription.next_encoded(event_text)
            if text is None:
                return  # the store stopped
            if text:
                yield text
                last_sent = time.monotonic()
            elif time.monotonic() - last_sent >= heartbeat_seconds:
                yield b": keep-alive\n\n"
                last_sent = time.monotonic()
    except WatcherLagged:
        yield b": lagged\n\n"
    finally:
        subscription.close()

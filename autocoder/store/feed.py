"""``ChangeFeeds``: each committed change read once and handed to every watcher, in seq order.

One ``ChangeFeeds`` serves one backend; ``run()`` is its task (the store runs it). For each
collection that has watchers it keeps ``position``, the highest seq handed out, and moves it on
from two sources:

- the changes this process commits (``StorageBackend.commit_listeners``): while they follow
  ``position`` without a gap they are handed out at once, with no read;
- the history (``backend.changes_after``), read when a gap shows (a change committed through
  another process sits between two of ours: since seq N is visible only once every smaller seq
  is, the read finds it) and every ``poll_interval`` seconds (changes of other processes when
  this one commits none). Polling the history table by seq works the same on every database,
  holds no connection of the pool, and costs one indexed read per watched collection per
  interval (docs/change-feeds.md says why it was chosen over PostgreSQL's LISTEN/NOTIFY).

A ``Watcher`` has a bounded buffer. Handing it an event never waits: a watcher whose buffer is
full is disconnected (``WatcherLagged``, with the last seq it got), so a slow watcher never
slows writers or other watchers; it resumes from that seq and misses nothing, replayed from
the history. A watcher starting after an older seq is replayed from the history first; one
whose seq is older than the kept history gets ``ChangesGone``.

History is trimmed here, not by writers: after commits, once a collection's history holds
``changes_retention`` plus a tenth more, the oldest beyond ``changes_retention`` go in one
DELETE.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import anyio
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from autocoder.errors import ChangesGone, StoreError, Unavailable, ValidationFailed, WatcherLagged
from autocoder.storage.backend import StorageBackend
from autocoder.storage.changes.change import Change
from autocoder.storage.ordering import matches
from autocoder.storage.records import Record

Event = dict[str, Any]
log = structlog.get_logger("autocoder")

#: Events a watcher may have waiting before it is disconnected.
WATCHER_BUFFER = 1000
#: Seconds between reads of the history for changes of other processes.
POLL_INTERVAL = 0.5
#: Events read from the history at once.
PAGE = 500
#: Seconds at least between two rounds of handing events out (a round takes every change
#: that came meanwhile): bounds how often a watcher is woken under a fast writer.
BATCH_WINDOW = 0.02


def _matches(event: Event, tenant: str, where: dict[str, Any]) -> bool:
    if event.get("tenant", "") != tenant:
        return False
    if not where:
        return True
    data = event.get("data") or {}
    return matches(Record(str(event.get("id")), data, int(event.get("version", 0))), where)


def gone(collection: str, since: int, oldest: int | None) -> ChangesGone:
    """The error of a watch whose next change is no longer kept."""
    kept = f"from seq {oldest}" if oldest is not None else "none"
    return ChangesGone(
        f"the changes of {collection!r} after seq {since} are no longer kept (kept: "
        f"{kept}); list the collection again and watch from the seq of that list",
        since=since,
    )


class Watcher:
    """One watcher's place in a collection's changes: what it wants and its buffer."""

    __slots__ = ("after", "collection", "joined_at", "lagged", "receive", "send", "tenant", "where")

    def __init__(
        self, collection: str, tenant: str, where: dict[str, Any], after: int, buffer: int
    ) -> None:
        self.collection = collection
        self.tenant = tenant
        self.where = where
        #: The last seq handed to this watcher or passed over by its filters.
        self.after = after
        #: Where the feed stood when this watcher joined: it is replayed up to there.
        self.joined_at = after
        self.lagged = False
        self.send: MemoryObjectSendStream[Event]
        self.receive: MemoryObjectReceiveStream[Event]
        self.send, self.receive = anyio.create_memory_object_stream[Event](buffer)

    def wants(self, event: Event) -> bool:
        return _matches(event, self.tenant, self.where)


class ChangeFeeds:
    """The change feeds of one backend's collections (see the module's docstring)."""

    def __init__(
        self,
        backend: StorageBackend,
        *,
        poll_interval: float = POLL_INTERVAL,
        buffer: int = WATCHER_BUFFER,
        on_event: Callable[[], None] | None = None,
    ) -> None:
        self.backend = backend
        self.poll_interval = poll_interval
        self.buffer = buffer
        self.on_event = on_event
        self.running = False
        self.batch_window = BATCH_WINDOW
        self._last_round = 0.0
        self._watchers: dict[str, set[Watcher]] = {}
        self._position: dict[str, int] = {}
        self._pending: dict[str, dict[int, Event]] = {}
        self._polled: dict[str, float] = {}
        self._newest: dict[str, int] = {}
        self._trimmed: dict[str, int] = {}
        self._wake = anyio.Event()
        backend.commit_listeners.append(self._committed)

    # -- facts -----------------------------------------------------------------------------

    def watcher_counts(self) -> dict[str, int]:
        """Open watchers per collection (for ``autocoder_watchers``)."""
        return {collection: len(ws) for collection, ws in self._watchers.items()}

    # -- the task --------------------------------------------------------------------------

    async def run(self) -> None:
        """Hand out changes until cancelled."""
        self.running = True
        try:
            while True:
                with anyio.move_on_after(self.poll_interval if self._watchers else math.inf):
                    await self._wake.wait()
                # Under a stream of commits, hand out what came in one round every ``batch_window``
                # seconds: each watcher then wakes once for many events, not once per event.
                wait = self._last_round + self.batch_window - time.monotonic()
                if wait > 0:
                    await anyio.sleep(wait)
                self._last_round = time.monotonic()
                self._wake = anyio.Event()
                try:
                    for collection in list(self._watchers):
                        await self._advance(collection)
                    await self._trim()
                except StoreError as exc:
                    # The database is away (the backend probes until it is back): watchers
                    # wait, and the next round reads what they missed.
                    log.warning("change feed read failed", error=str(exc))
                    await anyio.sleep(self.poll_interval)
        finally:
            self.running = False
            for watchers in self._watchers.values():
                for watcher in watchers:
                    watcher.send.close()
            self._watchers.clear()

    def _committed(self, changes: list[Change]) -> None:
        for change in changes:
            collection = change.collection
            if change.seq > self._newest.get(collection, 0):
                self._newest[collection] = change.seq
            pending = self._pending.get(collection)
            if pending is not None and change.seq > self._position[collection]:
                pending[change.seq] = change.as_event()
        self._wake.set()

    async def _advance(self, collection: str) -> None:
        pending = self._pending[collection]
        position = self._position[collection]
        while position + 1 in pending:
            position += 1
            self._fan_out(collection, pending.pop(position))
        now = time.monotonic()
        if not pending and now - self._polled.get(collection, 0.0) < self.poll_interval:
            return
        self._polled[collection] = now
        while collection in self._watchers:
            position = self._position[collection]
            events = await self.backend.changes_after(collection, position, 2**62, PAGE)
            if collection not in self._watchers:
                return
            for event in events:
                if event["seq"] == self._position[collection] + 1:
                    self._fan_out(collection, event)
                # else: handed out meanwhile from the process's own commits
            for seq in [s for s in pending if s <= self._position[collection]]:
                del pending[seq]
            if len(events) < PAGE:
                return

    def _fan_out(self, collection: str, event: Event) -> None:
        """Hand ``event`` (the next seq) to every watcher of ``collection``; never waits."""
        self._position[collection] = event["seq"]
        watchers = self._watchers.get(collection, ())
        for watcher in list(watchers):
            try:
                watcher.send.send_nowait(event)
            except anyio.WouldBlock:
                watcher.lagged = True
                self.forget(watcher)

    # -- watching --------------------------------------------------------------------------

    async def open(
        self,
        collection: str,
        *,
        since: int | None = None,
        tenant: str = "",
        where: dict[str, Any] | None = None,
    ) -> Subscription:
        """Start watching the change events of ``collection`` after seq ``since`` (default:
        from now) in ``tenant`` matching ``where``; every check is made here, before the first
        event: ``ChangesGone`` when ``since`` is older than the kept history,
        ``ValidationFailed`` when it is past the collection's latest seq, ``Unavailable``
        while the store is not running."""
        if not self.running:
            raise Unavailable("the store is not running: changes can be watched once it is")
        start = await self.start_after(collection, since)
        watcher = await self._register(collection, tenant, dict(where or {}), start)
        return Subscription(self, watcher)

    async def start_after(self, collection: str, since: int | None) -> int:
        """The seq a watch starts after, checked against the history (see ``open``)."""
        latest = await self.backend.latest_seq(collection)
        if since is None:
            return latest
        if since > latest:
            raise ValidationFailed(
                f"since {since} is past the latest change of {collection!r} (seq {latest})"
            )
        if since < latest:
            oldest = await self.backend.oldest_seq(collection)
            if oldest is None or since < oldest - 1:
                raise gone(collection, since, oldest)
        return since

    async def _register(
        self, collection: str, tenant: str, where: dict[str, Any], start: int
    ) -> Watcher:
        if collection not in self._watchers:
            latest = await self.backend.latest_seq(collection)
            if collection not in self._watchers:  # no other watcher came meanwhile
                self._position[collection] = latest
                self._pending[collection] = {}
                self._polled[collection] = time.monotonic()
                self._watchers[collection] = set()
                self._wake.set()  # the loop now polls this collection too
        watcher = Watcher(collection, tenant, where, start, self.buffer)
        watcher.joined_at = self._position[collection]
        self._watchers[collection].add(watcher)
        return watcher

    def forget(self, watcher: Watcher) -> None:
        """Stop handing events to ``watcher``."""
        watcher.send.close()
        watchers = self._watchers.get(watcher.collection)
        if watchers is None:
            return
        watchers.discard(watcher)
        if not watchers:
            collection = watcher.collection
            del self._watchers[collection]
            del self._position[collection]
            del self._pending[collection]
            self._polled.pop(collection, None)

    def count(self) -> None:
        """One event handed to a watcher (``autocoder_watch_events_total``)."""
        if self.on_event is not None:
            self.on_event()

    # -- history ---------------------------------------------------------------------------

    async def trim_now(self) -> None:
        """Trim every collection's history to ``changes_retention`` now, not at the next round."""
        keep = max(1, self.backend.changes_retention)
        for collection, newest in list(self._newest.items()):
            if newest > keep:
                await self.backend.trim_changes(collection, newest - keep)
                self._trimmed[collection] = newest - keep

    async def _trim(self) -> None:
        keep = max(1, self.backend.changes_retention)
        slack = max(1, keep // 10)
        for collection, newest in list(self._newest.items()):
            trimmed = self._trimmed.get(collection)
            if trimmed is None:
                oldest = await self.backend.oldest_seq(collection)
                trimmed = self._trimmed[collection] = 0 if oldest is None else oldest - 1
            if newest - trimmed > keep + slack:
                await self.backend.trim_changes(collection, newest - keep)
                self._trimmed[collection] = newest - keep


class Subscription:
    """One open watch: ``await next()`` (or ``async for``) gives its events in seq order.

    ``next()`` may be cancelled (a heartbeat timer around it) without losing anything: the
    buffer's ``receive`` gives nothing up when cancelled, and a history read cancelled halfway
    is made again. ``close()`` (or ``aclose()``) ends the watch.
    """

    def __init__(self, feeds: ChangeFeeds, watcher: Watcher) -> None:
        self.feeds = feeds
        self.watcher = watcher
        self._ready: deque[Event] = deque()
        #: An event of the buffer that came after a gap, handed out once the gap is filled.
        self._held: Event | None = None
        #: Replay from the history up to here (where the feed stood when the watcher joined).
        self._replay_to = watcher.joined_at

    @property
    def after(self) -> int:
        """The last seq handed out or passed over by the filters."""
        return self.watcher.after

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        event = await self.next()
        if event is None:
            raise StopAsyncIteration
        return event

    async def next(self) -> Event | None:
        """The next event, or None once the store has stopped; ``WatcherLagged`` when this
        watcher fell a whole buffer behind (it was disconnected)."""
        watcher = self.watcher
        while True:
            if self._ready:
                self.feeds.count()
                return self._ready.popleft()
            if watcher.after < self._replay_to:
                await self._replay()
                continue
            held, self._held = self._held, None
            if held is None:
                try:
                    # Events waiting are taken without a turn of the event loop each.
                    held = watcher.receive.receive_nowait()
                except anyio.WouldBlock:
                    pass
                except anyio.EndOfStream:
                    held = None
                    if watcher.lagged:
                        raise self._lagged() from None
                    return None
            if held is None:
                try:
                    held = await watcher.receive.receive()
                except anyio.EndOfStream:
                    if watcher.lagged:
                        raise self._lagged() from None
                    return None  # the store stopped
            seq = held["seq"]
            if seq <= watcher.after:
                continue
            if seq > watcher.after + 1:  # not expected: the history fills the gap anyway
                self._replay_to, self._held = seq - 1, held
                continue
            watcher.after = seq
            if watcher.wants(held):
                self._ready.append(held)

    def _lagged(self) -> WatcherLagged:
        watcher = self.watcher
        return WatcherLagged(
            f"this watcher of {watcher.collection!r} fell {self.feeds.buffer} changes behind "
            f"and was disconnected; watch again from seq {watcher.after}",
            seq=watcher.after,
        )

    async def _replay(self) -> None:
        watcher = self.watcher
        collection = watcher.collection
        events = await self.feeds.backend.changes_after(
            collection, watcher.after, self._replay_to, PAGE
        )
        if not events or events[0]["seq"] != watcher.after + 1:
            raise gone(collection, watcher.after, await self.feeds.backend.oldest_seq(collection))
        for event in events:
            if event["seq"] != watcher.after + 1:
                raise gone(collection, watcher.after, events[0]["seq"])
            watcher.after = event["seq"]
            if watcher.wants(event):
                self._ready.append(event)

    def close(self) -> None:
        """End the watch (safe to call twice)."""
        self.feeds.forget(self.watcher)
        self.watcher.receive.close()

    async def aclose(self) -> None:
        self.close()

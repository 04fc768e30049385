"""``ChangeFeeds``: each committed change read once and handed to every watcher, in seq order.

One ``ChangeFeeds`` serves one backend; ``run()`` is its task (the store runs it). For each
collection that has watchers it keeps a ``Feed``: ``position``, the highest seq handed out, and
``recent``, the last ``buffer`` events, shared by every watcher of the collection. The position
moves on from two sources:

- the changes this process commits (``StorageBackend.commit_listeners``): while they follow
  ``position`` without a gap they are handed out with no read;
- the history (``backend.changes_after``), read when a gap shows (a change committed through
  another process sits between two of ours: since seq N is visible only once every smaller seq
  is, the read finds it) and every ``poll_interval`` seconds (changes of other processes when
  this one commits none). Polling the history table by seq works the same on every database,
  holds no connection of the pool, and costs one indexed read per watched collection per
  interval (docs/change-feeds.md says why it was chosen over PostgreSQL's LISTEN/NOTIFY).

Changes are handed out in rounds, at most one every ``batch_window`` seconds (20 ms, longer
when handing a round out costs more, see ``BATCH_WINDOW``; a change after a quiet spell goes out
at once): a round appends
what came to ``recent`` and wakes the watchers once, each of which then takes every event after
its own cursor. Handing out never waits for a watcher, so a slow one never slows writers or
other watchers; one that falls ``buffer`` events behind (its next event left ``recent``) is
disconnected (``WatcherLagged``, with the last seq it got) and resumes from that seq, missing
nothing: the rest is replayed from the history. A watcher starting after an older seq is
replayed from the history first; one whose seq is older than the kept history gets
``ChangesGone``.

A watcher standing at the feed's position may instead be pushed to (``Subscription.pushed``,
what the HTTP watchers do): the feed's own task then hands it each round by calling its sink,
so a round costs no task switch per watcher. A sink never blocks: one that cannot take a round
at once (its socket is full) leaves push mode, and the watcher's own task finishes the write
and carries on from its cursor, as above.

A feed also wakes its watchers with nothing new at least every ``tick`` seconds (the shortest
any of them asked for, ``Subscription.wake_every``): one timer per feed lets every HTTP watcher
send its heartbeats and see its endpoint stopping, where a timer per watcher would be armed
and cancelled by each of them in every round.

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
import anyio.lowlevel
import structlog

from autocoder.errors import ChangesGone, StoreError, Unavailable, ValidationFailed, WatcherLagged
from autocoder.storage.backend import StorageBackend
from autocoder.storage.changes.change import Change
from autocoder.storage.ordering import matches
from autocoder.storage.records import Record

Event = dict[str, Any]
log = structlog.get_logger("autocoder")

#: Events a watcher may be behind before it is disconnected.
WATCHER_BUFFER = 10000
#: Seconds between reads of the history for changes of other processes.
POLL_INTERVAL = 0.5
#: Events read from the history at once.
PAGE = 500
#: Seconds at least between two rounds of handing events out (a round takes every change
#: that came meanwhile): bounds how often a watcher is woken under a fast writer. The window
#: stretches up to ``MAX_BATCH_WINDOW`` when handing a round to the pushed watchers took
#: more than ``PUSH_SHARE`` of it (many watchers), so that the feed's share of the event loop
#: stays bounded however many watch, and a change still reaches them well within 50 ms; but
#: not when a watcher's round was over ``STRETCH_BYTES``: such rounds cost their bytes, not
#: their number, and a longer window would only delay them.
BATCH_WINDOW = 0.02
MAX_BATCH_WINDOW = 0.035
PUSH_SHARE = 0.025
STRETCH_BYTES = 32 * 1024
#: Seconds of handing a round to pushed watchers before the event loop gets a turn.
PUSH_SLICE = 0.0002
#: Longest time a feed leaves its watchers without waking them (``Subscription.wake_every``).
TICK = 0.5


def _matches(event: Event, tenant: str, where: dict[str, Any]) -> bool:
    if event.get("tenant", "") != tenant:
        return False
    if not where:
        return True
    data = event.get("data") or {}
    return matches(Record(str(event.get("id")), data, int(event.get("version", 0))), where)


def round_window(least: float, pushing: float, round_bytes: int) -> float:
    """Seconds from one round to the next under a stream of commits: ``least``, stretched
    (up to ``MAX_BATCH_WINDOW``) so that handing out, which took ``pushing`` seconds last
    round, stays within ``PUSH_SHARE`` of it, unless a watcher's round was over
    ``STRETCH_BYTES`` (see ``BATCH_WINDOW``)."""
    if round_bytes > STRETCH_BYTES:
        return least
    return min(max(least, pushing / PUSH_SHARE), MAX_BATCH_WINDOW)


def _no_encoding(event: Event) -> bytes:
    raise AssertionError("a watcher is pushed to only with an encoding")


def gone(collection: str, since: int, oldest: int | None) -> ChangesGone:
    """The error of a watch whose next change is no longer kept."""
    kept = f"from seq {oldest}" if oldest is not None else "none"
    return ChangesGone(
        f"the changes of {collection!r} after seq {since} are no longer kept (kept: "
        f"{kept}); list the collection again and watch from the seq of that list",
        since=since,
    )


class Feed:
    """One watched collection: where its changes stand, and the latest of them."""

    __slots__ = (
        "arrived",
        "encoded",
        "pending",
        "polled",
        "position",
        "pushed",
        "recent",
        "rounds",
        "taken",
        "tick",
        "watchers",
        "woke",
    )

    def __init__(self, position: int) -> None:
        #: The highest seq handed out.
        self.position = position
        #: The events handed out last, in seq order (at most ``buffer``): consecutive seqs,
        #: the one of ``recent[i]`` is the first's plus ``i``.
        self.recent: list[Event] = []
        #: The wire form of each event of ``recent`` (at the same index), made once for all
        #: their watchers when the first needs it (``Subscription.encode``).
        self.encoded: list[bytes | None] = []
        #: This round's events for the watchers of one cursor, tenant and filters, encoded and
        #: joined once for all of them (``Subscription.next_encoded``), with their count.
        self.rounds: dict[tuple[int, str, str], tuple[bytes, int]] = {}
        #: The same before encoding: this round's events for one cursor, tenant and filters,
        #: picked once for all their watchers (``Subscription._take``).
        self.taken: dict[tuple[int, str, str], list[Event]] = {}
        #: Set when a round added events; replaced by a new one for the next round.
        self.arrived = anyio.Event()
        #: This process's commits beyond ``position``, by seq (waiting for a gap to fill).
        self.pending: dict[int, Event] = {}
        self.polled = time.monotonic()
        #: Seconds at most between two wake-ups of the watchers, and when the last one was.
        self.tick = TICK
        self.woke = self.polled
        self.watchers: set[Subscription] = set()
        #: The watchers this feed's task hands each round to itself (``Subscription.pushed``).
        self.pushed: dict[Subscription, None] = {}

    def wake(self, now: float) -> None:
        """Wake every watcher (a round with events, or a tick with none)."""
        self.woke = now
        arrived, self.arrived = self.arrived, anyio.Event()
        arrived.set()


class ChangeFeeds:
    """The change feeds of one backend's collections (see the module's docstring)."""

    def __init__(
        self,
        backend: StorageBackend,
        *,
        poll_interval: float = POLL_INTERVAL,
        buffer: int = WATCHER_BUFFER,
        on_event: Callable[[int], None] | None = None,
    ) -> None:
        self.backend = backend
        self.poll_interval = poll_interval
        self.buffer = buffer
        self.batch_window = BATCH_WINDOW
        #: Seconds the last round took handing events to pushed watchers (``_push``).
        self._pushing = 0.0
        #: The most bytes one watcher was handed in the last round.
        self._round_bytes = 0
        self.on_event = on_event
        self.running = False
        self._feeds: dict[str, Feed] = {}
        self._last_round = 0.0
        self._newest: dict[str, int] = {}
        self._trimmed: dict[str, int] = {}
        self._wake = anyio.Event()
        backend.commit_listeners.append(self._committed)

    # -- facts -----------------------------------------------------------------------------

    def watcher_counts(self) -> dict[str, int]:
        """Open watchers per collection (for ``autocoder_watchers``)."""
        return {collection: len(feed.watchers) for collection, feed in self._feeds.items()}

    def feed(self, collection: str) -> Feed | None:
        """The feed of a watched collection (None once the store stopped)."""
        return self._feeds.get(collection)

    # -- the task --------------------------------------------------------------------------

    async def run(self) -> None:
        """Hand out changes until cancelled."""
        self.running = True
        try:
            while True:
                with anyio.move_on_after(self._idle_timeout()):
                    await self._wake.wait()
                # Under a stream of commits, hand out what came in one round every
                # ``batch_window`` seconds: a watcher then wakes once for many events.
                window = round_window(self.batch_window, self._pushing, self._round_bytes)
                wait = self._last_round + window - time.monotonic()
                if wait > 0:
                    await anyio.sleep(wait)
                self._last_round = time.monotonic()
                self._wake = anyio.Event()
                self._pushing, self._round_bytes = 0.0, 0
                try:
                    for collection in list(self._feeds):
                        await self._advance(collection)
                    await self._tick()
                    await self._trim()
                except StoreError as exc:
                    # The database is away (the backend probes until it is back): watchers
                    # wait, and the next round reads what they missed.
                    log.warning("change feed read failed", error=str(exc))
                    await anyio.sleep(self.poll_interval)
        finally:
            self.running = False
            feeds, self._feeds = self._feeds, {}
            for feed in feeds.values():
                feed.arrived.set()  # watchers see the feed gone: the store stopped
                for subscription in list(feed.pushed):
                    subscription.unpush()

    def _idle_timeout(self) -> float:
        """Seconds the loop may wait for a commit: until the next poll or tick is due."""
        if not self._feeds:
            return math.inf
        now = time.monotonic()
        due = min(feed.woke + feed.tick for feed in self._feeds.values())
        return max(0.0, min(self.poll_interval, due - now))

    async def _tick(self) -> None:
        now = time.monotonic()
        for feed in list(self._feeds.values()):
            if now - feed.woke >= feed.tick:
                feed.wake(now)
                if feed.pushed:
                    await self._push(feed)

    def _committed(self, changes: list[Change]) -> None:
        for change in changes:
            collection = change.collection
            if change.seq > self._newest.get(collection, 0):
                self._newest[collection] = change.seq
            feed = self._feeds.get(collection)
            if feed is not None and change.seq > feed.position:
                feed.pending[change.seq] = change.as_event()
        self._wake.set()

    async def _advance(self, collection: str) -> None:
        feed = self._feeds.get(collection)
        if feed is None:
            return  # its last watcher left while the history of another was read
        added = 0
        while feed.position + 1 in feed.pending:
            self._append(feed, feed.pending.pop(feed.position + 1))
            added += 1
        now = time.monotonic()
        if feed.pending or now - feed.polled >= self.poll_interval:
            feed.polled = now
            while True:
                events = await self.backend.changes_after(collection, feed.position, 2**62, PAGE)
                if self._feeds.get(collection) is not feed:
                    return  # no watcher is left
                for event in events:
                    if event["seq"] == feed.position + 1:
                        self._append(feed, event)
                        added += 1
                    # else: handed out meanwhile from the process's own commits
                for seq in [s for s in feed.pending if s <= feed.position]:
                    del feed.pending[seq]
                if len(events) < PAGE:
                    break
        if added:
            if len(feed.recent) > self.buffer:
                gone = len(feed.recent) - self.buffer
                del feed.recent[:gone]
                del feed.encoded[:gone]
            feed.rounds = {}
            feed.taken = {}
            feed.wake(time.monotonic())
            if feed.pushed:
                await self._push(feed)

    async def _push(self, feed: Feed) -> None:
        """Hand this round (or tick) to every pushed watcher of ``feed``, here, in this task:
        one call of its sink each, where waking its own task would cost a task switch and the
        layers of its loop. A sink that cannot take it now (its send would wait) or wants its
        task back returns False; that watcher leaves push mode and its task carries on from
        its cursor (``Subscription.next_encoded``), so the feed never waits for it.

        The round is handed out in slices of ``PUSH_SLICE`` seconds, letting the event loop
        run between them: a writer whose commit came back meanwhile goes on after one slice,
        not after the whole round (a hundred watchers take milliseconds). The round's state
        stands still meanwhile (only this task moves ``position``); a watcher that closed or
        left push mode during a pause is passed over by ``push_round``. The time it took (not
        counting the pauses) sets the next round's window (``BATCH_WINDOW``)."""
        began = time.perf_counter()
        for subscription in list(feed.pushed):
            if time.perf_counter() - began > PUSH_SLICE:
                self._pushing += time.perf_counter() - began
                await anyio.lowlevel.checkpoint()
                began = time.perf_counter()
            try:
                taken = subscription.push_round()
            except Exception as exc:  # raised in that watcher's own task, not in this one
                subscription.fail(exc)
            else:
                if not taken:
                    subscription.unpush()
        self._pushing += time.perf_counter() - began
        largest = max((len(text) for text, _ in feed.rounds.values()), default=0)
        self._round_bytes = max(self._round_bytes, largest)

    @staticmethod
    def _append(feed: Feed, event: Event) -> None:
        feed.position = event["seq"]
        feed.recent.append(event)
        feed.encoded.append(None)

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
        feed = self._feeds.get(collection)
        if feed is None:
            latest = await self.backend.latest_seq(collection)
            feed = self._feeds.get(collection)
            if feed is None:  # no other watcher came meanwhile
                feed = self._feeds[collection] = Feed(latest)
                self._wake.set()  # the loop now polls this collection too
        subscription = Subscription(self, collection, tenant, dict(where or {}), start, feed)
        feed.watchers.add(subscription)
        return subscription

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

    def forget(self, subscription: Subscription) -> None:
        """Stop following ``subscription``'s collection for it."""
        feed = self._feeds.get(subscription.collection)
        if feed is None:
            return
        feed.watchers.discard(subscription)
        if not feed.watchers:
            del self._feeds[subscription.collection]

    def wake_soon(self) -> None:
        """Have the loop look again at when it must next wake (a feed's tick got shorter)."""
        self._wake.set()

    def count(self, events: int) -> None:
        """Events handed to a watcher (``autocoder_watch_events_total``)."""
        if self.on_event is not None and events:
            self.on_event(events)

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

    The events are shared by every watcher of the collection: read them, do not change them.
    Its cursor ``after`` is the last seq it handed out or passed over by its filters. It is
    replayed from the history up to where the feed stood when it opened, then follows the
    feed's ``recent`` events. ``next()`` may be cancelled (a heartbeat timer around it) without
    losing anything. ``close()`` (or ``aclose()``) ends the watch.
    """

    def __init__(
        self,
        feeds: ChangeFeeds,
        collection: str,
        tenant: str,
        where: dict[str, Any],
        after: int,
        feed: Feed,
    ) -> None:
        self.feeds = feeds
        self.collection = collection
        self.tenant = tenant
        self.where = where
        self.after = after
        self._feed = feed
        self._ready: deque[Event] = deque()
        #: Replay from the history up to here (where the feed stood when the watch opened).
        self._replay_to = feed.position
        self._closed = False
        #: The filters as a key: watchers with the same ones share a round's encoded events.
        self._filters = repr(sorted(where.items()))
        #: In push mode (``pushed``): what takes each round's text, and how events are encoded.
        self._sink: Callable[[bytes], bool] | None = None
        self._encoding: Callable[[Event], bytes] = _no_encoding
        self._unpushed: anyio.Event | None = None
        self._failed: Exception | None = None

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        event = await self.next()
        if event is None:
            raise StopAsyncIteration
        return event

    def wants(self, event: Event) -> bool:
        return _matches(event, self.tenant, self.where)

    async def next(self) -> Event | None:
        """The next event, or None once the watch was closed or the store stopped;
        ``WatcherLagged`` when this watcher fell ``buffer`` events behind (it is closed)."""
        while True:
            if self._ready:
                return self._ready.popleft()
            if self._closed or self.feeds.feed(self.collection) is not self._feed:
                return None
            if self.after < self._replay_to:
                await self._replay()
                continue
            feed = self._feed
            if self.after < feed.position:
                self._take(feed)
                continue
            await feed.arrived.wait()

    def wake_every(self, seconds: float) -> None:
        """Have the feed wake this watcher at least every ``seconds`` even with no change
        (``next_encoded`` then returns ``b""``): one timer per feed serves every watcher's
        heartbeat."""
        feed = self._feed
        if seconds < feed.tick:
            feed.tick = seconds
            self.feeds.wake_soon()

    async def next_encoded(self, encoding: Callable[[Event], bytes]) -> bytes | None:
        """Like ``next()``, but every event ready now at once, each as ``encoding(event)``,
        joined: what a watcher writing to a socket sends in one write; ``b""`` when the feed
        woke its watchers with nothing for this one (a tick, see ``wake_every``, or a round
        of events its filters pass over). The events of a round are filtered, encoded and
        joined once for every watcher of the collection that stands at the same seq with the
        same tenant and filters (one wire format per feed: every caller passes the same
        ``encoding``)."""
        woken = False
        while True:
            if self._ready:
                events, self._ready = self._ready, deque()
                return b"".join(self.encode(event, encoding) for event in events)
            if self._closed or self.feeds.feed(self.collection) is not self._feed:
                return None
            if self.after < self._replay_to:
                await self._replay()
                continue
            feed = self._feed
            if self.after < feed.position:
                key = (self.after, self.tenant, self._filters)
                shared = feed.rounds.get(key)
                if shared is None:
                    self._take(feed)
                    events, self._ready = self._ready, deque()
                    text = b"".join(self.encode(event, encoding) for event in events)
                    shared = feed.rounds[key] = (text, len(events))
                else:
                    self.after = feed.position
                    self.feeds.count(shared[1])
                if shared[1]:
                    return shared[0]
                continue
            if woken:
                return b""
            await feed.arrived.wait()
            woken = True

    def can_push(self) -> bool:
        """Whether the watch stands at the feed's position with nothing else to hand out
        (no replay, nothing ready): what ``pushed`` needs."""
        feed = self._feed
        return (
            not self._closed
            and not self._ready
            and self.feeds.feed(self.collection) is feed
            and self._replay_to <= self.after == feed.position
        )

    async def pushed(
        self, sink: Callable[[bytes], bool], encoding: Callable[[Event], bytes]
    ) -> None:
        """Have the feed's own task hand each round to ``sink`` while this watch is open: the
        round's events for this watcher encoded and joined (as ``next_encoded`` returns
        them, shared by the watchers of one cursor, tenant and filters), ``b""`` for a round
        with none of them or a tick. ``sink`` must not block: it returns True when it took
        the text, False to leave push mode. Returns once out of push mode (``sink`` said
        so, a round would make this watcher lag, the watch closed or the store stopped); the
        caller then goes on with ``next_encoded``. Call it only when ``can_push()``."""
        feed = self._feed
        self._sink, self._encoding = sink, encoding
        unpushed = self._unpushed = anyio.Event()
        feed.pushed[self] = None
        try:
            await unpushed.wait()
        finally:
            self.unpush()
        if self._failed is not None:
            failed, self._failed = self._failed, None
            raise failed

    def fail(self, error: Exception) -> None:
        """Leave push mode and end the watch with ``error``: what went wrong handing it a
        round, raised by ``pushed`` in the watcher's own task."""
        self._failed = error
        self.close()

    def push_round(self) -> bool:
        """This watcher's part of the feed's round, given to its sink (see ``pushed``); False
        when it must leave push mode."""
        feed, sink = self._feed, self._sink
        if sink is None or self._closed:
            return False
        if self.after < feed.position:
            recent = feed.recent
            if not recent or self.after + 1 < recent[0]["seq"]:
                return False  # lagged: its task says so (``_take``)
            key = (self.after, self.tenant, self._filters)
            shared = feed.rounds.get(key)
            if shared is None:
                self._take(feed)
                events, self._ready = self._ready, deque()
                encoding = self._encoding
                text = b"".join(self.encode(event, encoding) for event in events)
                shared = feed.rounds[key] = (text, len(events))
            else:
                self.after = feed.position
                self.feeds.count(shared[1])
            return sink(shared[0])
        return sink(b"")

    def unpush(self) -> None:
        """Leave push mode (safe to call when not in it); ``pushed`` returns."""
        self._sink = None
        self._feed.pushed.pop(self, None)
        if self._unpushed is not None:
            self._unpushed.set()
            self._unpushed = None

    def encode(self, event: Event, encoding: Callable[[Event], bytes]) -> bytes:
        """``encoding(event)``, made once per event of the shared buffer for every watcher of
        the collection (one wire format per feed: every caller passes the same
        ``encoding``); an event replayed from the history is encoded for this watcher."""
        feed = self._feed
        at = event["seq"] - feed.recent[0]["seq"] if feed.recent else -1
        if at < 0:
            return encoding(event)
        encoded = feed.encoded[at]
        if encoded is None:
            encoded = feed.encoded[at] = encoding(event)
        return encoded

    def _take(self, feed: Feed) -> None:
        recent = feed.recent
        first = recent[0]["seq"] if recent else feed.position + 1
        if self.after + 1 < first:
            self.close()
            raise WatcherLagged(
                f"this watcher of {self.collection!r} fell {self.feeds.buffer} changes behind "
                f"and was disconnected; watch again from seq {self.after}",
                seq=self.after,
            )
        key = (self.after, self.tenant, self._filters)
        wanted = feed.taken.get(key)
        if wanted is None:
            wanted = feed.taken[key] = [
                event
                for event in recent[self.after + 1 - first :]
                if _matches(event, self.tenant, self.where)
            ]
        self._ready.extend(wanted)
        self.after = feed.position
        self.feeds.count(len(wanted))

    async def _replay(self) -> None:
        collection = self.collection
        backend = self.feeds.backend
        events = await backend.changes_after(collection, self.after, self._replay_to, PAGE)
        if not events or events[0]["seq"] != self.after + 1:
            raise gone(collection, self.after, await backend.oldest_seq(collection))
        wanted = 0
        for event in events:
            if event["seq"] != self.after + 1:
                raise gone(collection, self.after, events[0]["seq"])
            self.after = event["seq"]
            if self.wants(event):
                self._ready.append(event)
                wanted += 1
        self.feeds.count(wanted)

    def close(self) -> None:
        """End the watch (safe to call twice)."""
        self._closed = True
        self.unpush()
        self.feeds.forget(self)

    async def aclose(self) -> None:
        self.close()

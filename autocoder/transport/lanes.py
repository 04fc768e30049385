"""The receiving side of ``send`` over a nats binding: lanes, each a durable pull consumer.

A message goes to the lane ``lane_of(item)``: a stable hash of its top-level
``partition_key`` field (lane 0 without it). One process at a time serves a lane (``leases``);
it fetches up to ``FETCH_BATCH`` messages at once and hands them to the component one after
the other, through the component's receive stream with a reply slot (``handover``): the next
one once ``process_item`` has returned for the one before (a reply, even an error reply,
counts as processed), whose acknowledgement is then on its way. So within a lane messages are
processed one after the other in their order, each acknowledged only once processed, and
lanes run in parallel.

A message whose processing failed (``process_item`` raised, or the component failed) is not
acknowledged: the lane hands it to the component again (once it restarted), before anything
after it, up to ``max_deliver`` deliveries in all; then it is a dead letter
(``on_dead_letter``): counted and handed to the receiver's ``dead_letter`` (its
``dead_letters`` stream), and the lane goes on. It is not given back to JetStream (``nak``):
a fetch can leave a pull request open that goes on delivering the lane's next messages to
this process, and those would then come before the one given back. Only a lane that stops
(the component is stopping, or has failed past its restarts) gives the rest of its batch
back, to whichever process serves the lane next.

A process that takes a lane over from one that stopped without acknowledging everything (it
was killed, or lost its lease) first recreates the lane's consumer: the stream keeps only
unacknowledged messages (work-queue retention), so the new consumer starts with the first
message not processed, and order holds across the takeover. Those messages count as
redeliveries; their delivery count starts again.
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
import nats.errors
import nats.js.errors
import orjson
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from opentelemetry.trace import Tracer

from autocoder.observability.instruments import CounterChild
from autocoder.runtime.channel import ChannelSender
from autocoder.runtime.messages import Envelope
from autocoder.transport.connection import NatsLink
from autocoder.transport.handover import Handover, delivery_count
from autocoder.transport.leases import RENEW_SECONDS, Lease, LeaseKeeper
from autocoder.transport.sends import Target, consumer_config, ensure_consumer
from autocoder.transport.subjects import BindingNames

FETCH_BATCH = 128
FETCH_SECONDS = 1.0
RETRY_SECONDS = 0.25

log = structlog.get_logger("autocoder")


def lane_of(item: Any, partitions: int, key: str) -> int:
    """The lane of ``item``: a stable hash of its field ``key``; lane 0 without it."""
    if partitions == 1 or not isinstance(item, dict) or key not in item:
        return 0
    value = item[key]
    data = value.encode() if isinstance(value, str) else orjson.dumps(value)
    return zlib.crc32(data) % partitions


class DeadLetter(Protocol):
    """``ComposedComponent.dead_letter``: where a message given up goes."""

    def __call__(
        self, message: Any, *, stream: str, error: BaseException | str, attempts: int = 1
    ) -> Awaitable[bool]: ...


@dataclass
class LaneCounters:
    received: CounterChild
    redeliveries: CounterChild
    dead_letters: CounterChild


class Lanes:
    """Every lane of one nats binding into a component of this process."""

    def __init__(
        self,
        link: NatsLink,
        target: Target,
        inbound: ChannelSender[Envelope],
        keeper: LeaseKeeper,
        counters: LaneCounters,
        stopping: Callable[[], bool],
        dead_letter: DeadLetter,
        tracer: Tracer | None = None,
    ) -> None:
        self.link = link
        self.target = target
        self.names: BindingNames = target.names
        self.inbound = inbound
        self.keeper = keeper
        self.counters = counters
        self.stopping = stopping
        #: The receiver's ``ComposedComponent.dead_letter``.
        self.dead_letter = dead_letter
        #: The receiving process's tracer: a send's trace goes on in it.
        self.tracer = tracer

    async def run(self) -> None:
        """Serve the lanes this process holds until ``stopping()``; then give them back."""
        try:
            async with anyio.create_task_group() as tg:
                while not self.stopping():
                    try:
                        taken = await self.keeper.round()
                    except (nats.errors.Error, OSError) as exc:
                        log.debug("lane_round_failed", error=type(exc).__name__)
                        taken = []
                    for lease in taken:
                        tg.start_soon(self._serve, lease)
                    await anyio.sleep(RENEW_SECONDS)
        finally:
            with anyio.CancelScope(shield=True):
                await self.keeper.give_back_all()
            self.inbound.close()

    async def _serve(self, lease: Lease) -> None:
        js = self.link.js
        subscription: JetStreamContext.PullSubscription | None = None
        log.debug("lane_taken", stream=self.names.stream, lane=lease.lane)
        try:
            while lease.held and not lease.give_back and not self.stopping():
                if not self.link.connected or not lease.valid:
                    subscription = await _drop(subscription)  # taken over again later
                    await anyio.sleep(RETRY_SECONDS)
                    continue
                try:
                    if subscription is None:
                        subscription = await self._take_over(js, lease.lane)
                    batch = await subscription.fetch(FETCH_BATCH, timeout=FETCH_SECONDS)
                except nats.errors.TimeoutError:
                    continue
                except (nats.errors.Error, OSError) as exc:
                    log.debug("lane_fetch_failed", lane=lease.lane, error=type(exc).__name__)
                    subscription = await _drop(subscription)
                    await anyio.sleep(RETRY_SECONDS)
                    continue
                except Exception:
                    # Not a passing fault of NATS: say so, and take the lane over afresh.
                    log.exception("lane_failed", stream=self.names.stream, lane=lease.lane)
                    subscription = await _drop(subscription)
                    await anyio.sleep(RETRY_SECONDS)
                    continue
                if not await self._process(batch, lease):
                    subscription = await _drop(subscription)
            if lease.give_back and lease.valid:
                await self.keeper.give_back(lease)
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(1):
                await _drop(subscription)

    async def _take_over(
        self, js: JetStreamContext, lane: int
    ) -> JetStreamContext.PullSubscription:
        """The lane's subscription, restarting its consumer at the first unacknowledged one."""
        stream, consumer = self.names.jetstream_stream, BindingNames.consumer(lane)
        try:
            info = await js.consumer_info(stream, consumer)
        except nats.js.errors.NotFoundError:
            await ensure_consumer(js, self.target, lane)
        else:
            if info.num_ack_pending:
                self.counters.redeliveries.inc(info.num_ack_pending)
                await js.delete_consumer(stream, consumer)
                await js.add_consumer(stream, consumer_config(self.target, lane))
        return await js.pull_subscribe_bind(consumer, stream=stream)

    async def _process(self, batch: list[Msg], lease: Lease) -> bool:
        """Hand ``batch`` over in order; False when the lane must be taken over again."""
        if not batch:
            return True
        handover = Handover(
            batch,
            self.inbound,
            lambda: lease.valid,
            self.counters.received,
            self.counters.redeliveries,
            self.tracer,
        )
        handover.advance()
        keep = await self._follow(handover)
        await handover.finish()
        if keep and (lease.give_back or self.stopping()):
            # Make sure every acknowledgement arrived before another process takes the lane.
            try:
                await batch[-1].ack_sync()
            except (nats.errors.Error, nats.errors.TimeoutError):
                return False
        return keep

    async def _follow(self, handover: Handover) -> bool:
        """Acknowledge what was processed, and deal with what stops the hand-over, until the
        batch is through; False when the lane must be taken over again."""
        while True:
            await handover.changed()
            try:
                # No await yields in between: the acknowledgements go out in one write.
                for msg in handover.take_processed():
                    await msg.ack()
            except nats.errors.Error:
                return False  # the connection is gone: what was not acknowledged comes again
            why = handover.stopped_at
            if why is None:
                continue
            if why == "end":
                return True
            if why == "lease":
                return False
            msg = handover.batch[handover.index]
            if why == "blocked":
                try:
                    await self.inbound.send(handover.unblock())
                except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                    handover.in_flight = None
                    return await self._give_back_rest(handover)
            elif why in ("undecodable", "error"):
                # A message that cannot be handed over would fail each delivery alike.
                error = "the message is not JSON"
                if why == "error":
                    log.error("lane_failed", stream=self.names.stream, exc_info=handover.error)
                    error = f"cannot hand the message over: {handover.error!r}"
                await self.on_dead_letter(msg.data, delivery_count(msg), error)
                if not await self._settle(msg.term()):
                    return False
                handover.resume()
            elif why == "failed":
                delivery = handover.failed
                assert delivery is not None
                if delivery.attempts < self.target.max_deliver:
                    if self.stopping():  # the component has failed for good, or is leaving:
                        return await self._give_back_rest(handover)  # not a dead letter
                    # Delivered again here, before anything after it: the messages fetched
                    # after a failed one cannot overtake it, as they could if it went back to
                    # JetStream. Its acknowledgement timer starts again.
                    if not await self._settle(msg.in_progress()):
                        return False
                    handover.retry()
                    continue
                error = str((delivery.value or {}).get("message", ""))
                await self.on_dead_letter(delivery.item, delivery.attempts, error)
                if not await self._settle(msg.term()):
                    return False
                handover.resume()
            else:  # "closed": the component is stopping
                return await self._give_back_rest(handover)

    async def _give_back_rest(self, handover: Handover) -> bool:
        """Give the batch's messages from ``index`` on back, in order, to come again."""
        for rest in handover.batch[handover.index :]:
            if not await self._settle(rest.nak()):
                return False
        return True

    async def _settle(self, settling: Awaitable[None]) -> bool:
        try:
            await settling
        except nats.errors.Error:
            return False
        return True

    async def on_dead_letter(self, item: Any, attempts: int, error: str) -> None:
        """A message given up after ``max_deliver`` deliveries: counted, and handed to the
        receiver's ``dead_letter`` (sent on its ``dead_letters`` stream, or logged)."""
        self.counters.dead_letters.inc()
        await self.dead_letter(item, stream=self.names.stream, error=error, attempts=attempts)


async def _drop(
    subscription: JetStreamContext.PullSubscription | None,
) -> JetStreamContext.PullSubscription | None:
    """Unsubscribe (as far as the connection allows): the lane needs a new subscription."""
    if subscription is not None:
        with suppress(nats.errors.Error):
            await subscription.unsubscribe()
    return None

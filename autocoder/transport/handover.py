"""One fetched batch of a lane, handed to the component one message after the other.

The component's workers take a lane's messages from its receive stream, as any other, with a
reply slot each (``Delivery``). A lane has at most one of its messages there at a time: the
next one goes in only once ``process_item`` has returned for the one before. That hand-over
happens inside the slot's ``set()``, in the worker's own turn of the event loop, so a worker
whose ``process_item`` does not wait goes through a whole batch without a trip through the
event loop per message.

The lane's task (``Lanes._process``) does what needs awaiting: it acknowledges the messages
processed so far, all together whenever it runs (nats-py then writes the acknowledgements of
one turn to the socket at once), and deals with what stops the hand-over: a message that is
not JSON, a full receive stream, a failed message, a lease that may have passed on. Nothing
is acknowledged before its ``process_item`` has returned; what a process processed but did
not get to acknowledge before it died is delivered again (at least once).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import anyio
from nats.aio.msg import Msg
from opentelemetry.trace import Tracer

from autocoder.observability.carried import from_headers
from autocoder.observability.instruments import CounterChild
from autocoder.runtime.channel import ChannelSender
from autocoder.runtime.messages import Envelope, Reply, ReplySlot
from autocoder.transport.subjects import decode

#: Tokens of an acknowledgement subject without domain and account hash:
#: ``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>``.
_SHORT_ACK_TOKENS = 9


def delivery_count(msg: Msg) -> int:
    """How often JetStream has delivered ``msg`` (1 the first time).

    ``msg.metadata.num_delivered``, read off the acknowledgement subject alone: nats-py's
    ``metadata`` also converts the timestamp and builds two frozen dataclasses, which on
    this path took longer than everything else autocoder does per message.
    """
    assert msg.reply
    tokens = msg.reply.split(".")
    if len(tokens) == _SHORT_ACK_TOKENS:
        return int(tokens[Msg.Ack.NumDelivered - 2])  # no domain and account hash
    return int(tokens[Msg.Ack.NumDelivered])


class Delivery(ReplySlot):
    """The reply slot of one delivered message; its reply hands the next one over.

    It has no event to wait on (``wait()`` is not for it): the lane waits on its batch.
    """

    __slots__ = ("attempts", "handover", "item", "msg")

    def __init__(self, handover: Handover, msg: Msg, item: Any, attempts: int) -> None:
        self.value = None  # no super(): no anyio event
        self.failed = False
        self.pending = None
        self.handover = handover
        self.msg = msg
        self.item = item
        self.attempts = attempts

    def set(self, reply: Reply) -> None:
        if self.value is None:
            self.value = reply
            self.handover.completed(self)


class Handover:
    """The state of one batch between the lane's task and the component's workers.

    ``advance()`` hands over messages from ``index`` on until one is with the component
    (``in_flight``) or something needs the lane's task; then it wakes that task, which finds
    in ``processed`` what to acknowledge and in ``stopped_at`` why the hand-over stopped:

    - ``undecodable``: the message at ``index`` is not JSON;
    - ``blocked``: the receive stream is full; ``blocked`` is the envelope to send, awaiting;
    - ``failed``: the message at ``index`` was not processed (its slot failed); ``retry()``
      hands it over again;
    - ``closed``: the receive stream is closed (the component is stopping);
    - ``lease``: the lease is no longer surely held;
    - ``error``: handing the message over raised ``error`` (a fault of autocoder's);
    - ``end``: every message was processed.
    """

    def __init__(
        self,
        batch: list[Msg],
        inbound: ChannelSender[Envelope],
        lease_valid: Callable[[], bool],
        received: CounterChild,
        redeliveries: CounterChild,
        tracer: Tracer | None,
    ) -> None:
        self.batch = batch
        self.inbound = inbound
        self.lease_valid = lease_valid
        self.received = received
        self.redeliveries = redeliveries
        self.tracer = tracer
        #: The next message to hand over, or the one the hand-over stopped at.
        self.index = 0
        self.in_flight: Delivery | None = None
        self.blocked: Envelope | None = None
        #: The message whose processing failed (at ``index``).
        self.failed: Delivery | None = None
        #: How often the message at ``index`` was handed over again after it failed here.
        self.retries = 0
        #: What went wrong handing the message at ``index`` over (``stopped_at == "error"``).
        self.error: Exception | None = None
        self.stopped_at: str | None = None
        #: Processed messages not yet acknowledged, in order.
        self.processed: list[Msg] = []
        self.finished = False  # the lane's task left: hand nothing more over
        self._waiter: asyncio.Future[None] | None = None

    # -- the workers' side (synchronous) ------------------------------------------------------

    def advance(self) -> None:
        """Hand the message at ``index`` over, unless something needs the lane's task."""
        if self.finished:
            return
        try:
            self._hand_over()
        except Exception as exc:  # the lane's bookkeeping must never fail the component
            self.in_flight = None
            self.error = exc
            self._stop("error")

    def _hand_over(self) -> None:
        if self.index >= len(self.batch):
            self._stop("end")
            return
        if not self.lease_valid():
            self._stop("lease")  # another process may hold the lane by now: leave the rest
            return
        msg = self.batch[self.index]
        self.received.inc()
        attempts = delivery_count(msg) + self.retries
        if attempts > 1:
            self.redeliveries.inc()
        try:
            item = decode(msg.data)
        except ValueError:
            self._stop("undecodable")
            return
        slot = Delivery(self, msg, item, attempts)
        envelope = Envelope(item, slot, "", from_headers(msg.headers, self.tracer), True)
        self.in_flight = slot
        try:
            self.inbound.send_nowait(envelope)
        except anyio.WouldBlock:
            self.blocked = envelope
            self._stop("blocked")
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            self.in_flight = None
            self._stop("closed")

    def completed(self, slot: Delivery) -> None:
        """``slot``'s message was processed (or failed): hand the next one over."""
        if slot is not self.in_flight:
            return
        self.in_flight = None
        if self.finished:
            self._wake()  # the lane's task waits for nothing more to be with the component
            return
        if slot.failed:
            self.failed = slot
            self._stop("failed")
            return
        self.processed.append(slot.msg)
        self.index += 1
        self.retries = 0
        self._wake()  # its acknowledgement goes out at the lane's next turn
        self.advance()

    def _stop(self, why: str) -> None:
        self.stopped_at = why
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the lane's side ---------------------------------------------------------------------

    async def changed(self) -> None:
        """Return once there is something to acknowledge or the hand-over stopped."""
        while not self.processed and self.stopped_at is None:
            await self._wait()

    async def finish(self) -> None:
        """Hand nothing more over, and return once the component holds none of the batch."""
        self.finished = True
        while self.in_flight is not None:
            await self._wait()

    async def _wait(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def resume(self) -> None:
        """Go on with the next message after the lane's task dealt with ``stopped_at``."""
        self.stopped_at = None
        self.retries = 0
        self.index += 1
        self.advance()

    def retry(self) -> None:
        """Hand the message whose processing failed over again, as its next delivery."""
        self.stopped_at = None
        self.failed = None
        self.retries += 1
        self.advance()

    def unblock(self) -> Envelope:
        """The envelope the full receive stream did not take, for the lane's task to send."""
        envelope, self.blocked, self.stopped_at = self.blocked, None, None
        assert envelope is not None
        return envelope

    def take_processed(self) -> list[Msg]:
        processed, self.processed = self.processed, []
        return processed

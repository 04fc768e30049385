"""``request`` over a nats binding: NATS request/reply, answered by a queue group.

The caller's side sends the message to the receiver's request subject and awaits the reply
(on the connection's reply inbox, ``replies``):
no process subscribed answers ``unavailable`` at once (the server says "no responders"), no
reply in time answers ``timeout``, and a connection that is down, or drops while waiting,
answers ``unavailable`` without waiting for the timeout.

The receiver's side (``Responder``) subscribes with a queue group, so each request reaches one
of the processes running the receiver. It puts the message in the component's receive stream
with a reply slot that publishes the reply when set (``NatsReplySlot``), through one writer
task (``ReplyWriter``): no task per request.
"""

from __future__ import annotations

import asyncio
from collections import deque
from contextlib import suppress

import anyio
import nats.errors
import structlog
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from opentelemetry.trace import Tracer

from autocoder.errors import error_reply
from autocoder.observability.carried import from_headers
from autocoder.observability.instruments import CounterChild
from autocoder.runtime.channel import ChannelSender
from autocoder.runtime.messages import Envelope, Message, Reply, ReplySlot
from autocoder.transport.connection import NatsLink
from autocoder.transport.subjects import BindingNames, decode, encode

log = structlog.get_logger("autocoder")


async def request(
    link: NatsLink,
    subject: str,
    receiver: str,
    stream: str,
    message: Message,
    timeout: float,
    headers: dict[str, str] | None = None,
) -> Reply:
    """Send ``message`` to ``subject`` and await the reply (an error reply on every failure);
    ``headers``: the sender's request id and trace."""
    client = link.client
    if client is None or not client.is_connected:
        return error_reply("unavailable", f"NATS at {link.address} is not connected")
    try:
        payload = encode(message)
    except TypeError as exc:
        return error_reply("validation_error", f"message is not JSON: {exc}")
    try:
        answer = await link.replies.request(client, subject, payload, timeout, headers)
    except nats.errors.Error as exc:
        return error_reply("unavailable", f"NATS at {link.address}: {type(exc).__name__}")
    except LookupError:
        return error_reply("unavailable", f"no process runs {receiver!r} to answer on {stream!r}")
    except TimeoutError:
        return error_reply("timeout", f"no reply from {receiver} within {timeout:g}s")
    except ConnectionError:
        return error_reply("unavailable", f"lost NATS at {link.address} while awaiting {receiver}")
    try:
        reply = decode(answer.data)
    except ValueError:
        return error_reply("internal", f"{receiver} answered something that is not JSON")
    if not isinstance(reply, dict):
        return error_reply("internal", f"{receiver} answered {type(reply).__name__}, not an object")
    return reply


class ReplyWriter:
    """Publishes the replies put in ``NatsReplySlot``s, in order, from one task.

    The task publishes every reply already waiting before it yields to the event loop, so
    nats-py writes the replies of one turn to the socket together. A deque and one future to
    wake the task: an anyio memory stream cost more per reply here than nats-py's publish.
    """

    def __init__(self, link: NatsLink) -> None:
        self.link = link
        self._waiting: deque[tuple[str, bytes]] = deque()
        self._wake: asyncio.Future[None] | None = None
        self._closed = False

    def put(self, inbox: str, reply: Reply) -> None:
        if self._closed:
            return  # stopping: the caller answers itself
        try:
            payload = encode(reply)
        except TypeError as exc:
            payload = encode(error_reply("internal", f"reply is not JSON: {exc}"))
        self._waiting.append((inbox, payload))
        self._wake_up()

    async def run(self) -> None:
        """Publish the replies put, until ``close()`` and every one of them is out."""
        waiting = self._waiting
        while True:
            while waiting:
                inbox, payload = waiting.popleft()
                client = self.link.client
                if client is None or not client.is_connected:
                    continue  # the caller answers itself ``unavailable``
                try:
                    await client.publish(inbox, payload)
                except nats.errors.Error as exc:
                    log.debug("reply_not_sent", error=type(exc).__name__)
            if self._closed:
                return
            self._wake = asyncio.get_running_loop().create_future()
            try:
                await self._wake
            finally:
                self._wake = None

    def close(self) -> None:
        """Take no more replies; ``run`` returns once those put are published."""
        self._closed = True
        self._wake_up()

    def _wake_up(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)


class NatsReplySlot(ReplySlot):
    """A reply slot whose reply is published to the caller's inbox as soon as it is set.

    Nobody in this process awaits it, so it has no event to wait on (``wait()`` is not for it).
    """

    __slots__ = ("inbox", "writer")

    def __init__(self, inbox: str, writer: ReplyWriter) -> None:  # no super(): no event
        self.value = None
        self.failed = False
        self.pending = None
        self.inbox = inbox
        self.writer = writer

    def set(self, reply: Reply) -> None:
        if self.value is None:
            self.value = reply
            self.writer.put(self.inbox, reply)


class Responder:
    """Answers the requests of one nats binding into a component of this process."""

    def __init__(
        self,
        link: NatsLink,
        names: BindingNames,
        inbound: ChannelSender[Envelope],
        writer: ReplyWriter,
        received: CounterChild,
        tracer: Tracer | None = None,
    ) -> None:
        self.link = link
        #: The receiving process's tracer: a request's trace goes on in it.
        self.tracer = tracer
        self.names = names
        self.inbound = inbound
        self.writer = writer
        self.received = received
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        client = self.link.require_connected(f"subscribing to {self.names.request_subject}")
        self._subscription = await client.subscribe(
            self.names.request_subject, queue=self.names.queue_group, cb=self._on_request
        )

    async def stop(self) -> None:
        """Take no more requests (others get them, or "no responders"); close the stream."""
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            with suppress(nats.errors.Error):
                await subscription.unsubscribe()
        self.inbound.close()

    async def _on_request(self, msg: Msg) -> None:
        self.received.inc()
        slot = NatsReplySlot(msg.reply, self.writer) if msg.reply else None
        try:
            message = decode(msg.data)
        except ValueError:
            if slot is not None:
                slot.set(error_reply("validation_error", "the message is not JSON"))
            return
        envelope = Envelope(message, slot, "", from_headers(msg.headers, self.tracer))
        try:
            # Without yielding while there is room: nats-py then hands over every request
            # already read before the replies are written, and they go out together.
            try:
                self.inbound.send_nowait(envelope)
            except anyio.WouldBlock:
                await self.inbound.send(envelope)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            if slot is not None:
                slot.fail(error_reply("unavailable", f"{self.names.receiver!r} is stopping"))

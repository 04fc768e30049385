"""Bindings as bounded anyio memory object streams, with fan-in and fan-out.

One memory object stream exists per (receiver, stream name): every sender bound to it holds a
clone of its send side (fan-in), and the receiver's workers share its receive side. A sender's
stream name bound to several receivers is an ``Outbound`` holding one send side per receiver
(fan-out): every item goes to each of them, in binding order. A full buffer blocks the sender.
Closing every send side ends the receiver's loop: no poison pills.

Components send through ``SendSide``; ``Outbound`` is the memory one, and the composition
layer may put another in ``send_streams`` (a nats binding's sender) that components cannot
tell apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from autocoder.errors import error_reply
from autocoder.observability.carried import current
from autocoder.runtime.deadlines import Deadlines
from autocoder.runtime.messages import Envelope, Message, Reply, ReplySlot

if TYPE_CHECKING:
    from autocoder.observability.metrics import SystemMetrics


class _Counter(Protocol):
    def inc(self, amount: float = 1) -> None: ...


class _NoCounter:
    def inc(self, amount: float = 1) -> None:
        pass


class BindingSpec(Protocol):
    """What wiring needs of a binding (the blueprint's ``Binding`` model is one)."""

    @property
    def from_component(self) -> str: ...
    @property
    def to_component(self) -> str: ...
    @property
    def stream_name(self) -> str: ...
    @property
    def buffer_size(self) -> int: ...


class SendSide(Protocol):
    """What a component sends through: one named output stream, to one or more receivers."""

    @property
    def name(self) -> str: ...
    @property
    def receivers(self) -> list[str]: ...
    def collection_servers(self) -> list[tuple[str, str]]: ...
    def only(self, receiver: str) -> SendSide: ...
    async def send(self, item: Any) -> None: ...
    async def request(self, message: Message, timeout: float) -> Reply: ...
    async def aclose(self) -> None: ...


class Wired(Protocol):
    """What wiring needs of a component: a name, its type, whether it serves collections
    (``ComposedComponent.serves_collections``) and its two stream dicts."""

    name: str
    type_name: str
    receive_streams: dict[str, Inbound]
    send_streams: dict[str, SendSide]

    @property
    def serves_collections(self) -> bool: ...


@dataclass
class Inbound:
    """The receive side of one of a component's named input streams."""

    name: str
    stream: MemoryObjectReceiveStream[Envelope]
    buffer_size: int
    received: _Counter = field(default_factory=_NoCounter)

    def buffer_used(self) -> int:
        return self.stream.statistics().current_buffer_used


@dataclass
class _Target:
    receiver: str
    stream: MemoryObjectSendStream[Envelope]
    receiver_type: str = ""
    serves_collections: bool = False


@dataclass
class Outbound:
    """The send side of one of a component's named output streams (one target per receiver)."""

    sender: str
    name: str
    targets: list[_Target] = field(default_factory=list)
    sent: _Counter = field(default_factory=_NoCounter)
    #: Keeps reply time limits for the whole system; without it, a cancel scope per request.
    deadlines: Deadlines | None = None

    @property
    def receivers(self) -> list[str]:
        return [t.receiver for t in self.targets]

    def collection_servers(self) -> list[tuple[str, str]]:
        """(name, type) of each receiver that declares it serves collections."""
        return [(t.receiver, t.receiver_type) for t in self.targets if t.serves_collections]

    def only(self, receiver: str) -> Outbound:
        """This stream narrowed to one of its receivers: a request reaches no other."""
        targets = [t for t in self.targets if t.receiver == receiver]
        return Outbound(self.sender, self.name, targets, self.sent, self.deadlines)

    async def send(self, item: Any) -> None:
        """Deliver ``item`` to every receiver, waiting while a buffer is full."""
        envelope = Envelope(item, None, self.sender, current())
        for target in self.targets:
            await target.stream.send(envelope)
        self.sent.inc()

    async def request(self, message: Message, timeout: float) -> Reply:
        """Deliver ``message`` with a reply slot and await the first reply, within ``timeout``."""
        slot = ReplySlot()
        envelope = Envelope(message, slot, self.sender, current())
        remaining = timeout
        try:
            for target in self.targets:
                try:
                    target.stream.send_nowait(envelope)
                except anyio.WouldBlock:
                    # The slow path: wait for room, within what is left of the timeout.
                    started = anyio.current_time()
                    with anyio.move_on_after(remaining) as waited:
                        await target.stream.send(envelope)
                    remaining -= anyio.current_time() - started
                    # Not ``remaining <= 0``: uvloop's clock counts whole milliseconds, so a
                    # wait cut short at its deadline can measure a little less than it.
                    if waited.cancelled_caught:
                        return error_reply(
                            "unavailable",
                            f"{target.receiver!r} is not taking messages: its {self.name!r} "
                            f"buffer stayed full for {timeout:g}s",
                        )
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return error_reply(
                "unavailable", f"{', '.join(self.receivers)} stopped receiving on {self.name!r}"
            )
        self.sent.inc()
        if slot.value is not None:
            return slot.value
        late = f"no reply from {', '.join(self.receivers)} within {timeout:g}s"
        if self.deadlines is not None:
            self.deadlines.add(slot, remaining, late)
            return await slot.wait()
        with anyio.move_on_after(remaining):
            return await slot.wait()
        return error_reply("timeout", late)

    async def aclose(self) -> None:
        for target in self.targets:
            await target.stream.aclose()


def wire(
    components: Mapping[str, Wired],
    bindings: Sequence[BindingSpec],
    metrics: SystemMetrics | None = None,
    deadlines: Deadlines | None = None,
) -> None:
    """Create the streams of ``bindings`` and hand them to the components' stream dicts."""
    sends: dict[tuple[str, str], MemoryObjectSendStream[Envelope]] = {}
    for binding in bindings:
        key = (binding.to_component, binding.stream_name)
        receiver = components[binding.to_component]
        if key not in sends:
            send, receive = anyio.create_memory_object_stream[Envelope](binding.buffer_size)
            sends[key] = send
            received: _Counter = (
                metrics.messages_received.labels(receiver.name, binding.stream_name)
                if metrics
                else _NoCounter()
            )
            receiver.receive_streams[binding.stream_name] = Inbound(
                binding.stream_name, receive, binding.buffer_size, received
            )
        sender = components[binding.from_component]
        existing = sender.send_streams.get(binding.stream_name)
        if existing is not None and not isinstance(existing, Outbound):
            raise TypeError(
                f"{sender.name!r} stream {binding.stream_name!r} mixes memory and other bindings"
            )
        outbound = existing
        if outbound is None:
            sent: _Counter = (
                metrics.messages_sent.labels(sender.name, binding.stream_name)
                if metrics
                else _NoCounter()
            )
            outbound = Outbound(sender.name, binding.stream_name, sent=sent, deadlines=deadlines)
            sender.send_streams[binding.stream_name] = outbound
        outbound.targets.append(
            _Target(
                receiver.name,
                sends[key].clone(),
                receiver.type_name,
                receiver.serves_collections,
            )
        )
    # Only the clones held by senders keep a stream open.
    for send in sends.values():
        send.close()

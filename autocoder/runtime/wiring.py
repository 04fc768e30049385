"""Bindings as bounded in-process channels (``channel.py``), with fan-in and fan-out.

One channel exists per (receiver, stream name): every sender bound to it holds a
clone of its send side (fan-in), and the receiver's workers share its receive side. A sender's
stream name bound to several receivers is an ``Outbound`` holding one send side per receiver
(fan-out): every item goes to each of them, in binding order. A full buffer blocks the sender.
Closing every send side ends the receiver's loop: no poison pills. Each receive stream also
keeps a send side of its own (``Inbound.joining``) that senders joining a running receiver take
theirs from (a reload binds a new sender to a component that keeps running); the supervisor
closes it when the receiver drains, so only the senders' sides keep it open from then on.

Components send through ``SendSide``; ``Outbound`` is the memory one, and the composition
layer may put another in ``send_streams`` (a nats binding's sender) that components cannot
tell apart.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from autocoder.errors import error_reply
from autocoder.observability.carried import current
from autocoder.runtime.channel import ChannelReceiver, ChannelSender, channel
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
    stream: ChannelReceiver[Envelope]
    buffer_size: int
    received: _Counter = field(default_factory=_NoCounter)
    #: The stream's own send side, which a sender binding to it takes a clone of; ``None`` for
    #: a stream fed by something else (a nats binding) or once closed by ``close_joining``.
    joining: ChannelSender[Envelope] | None = None

    def buffer_used(self) -> int:
        return self.stream.statistics().current_buffer_used

    def join(self) -> ChannelSender[Envelope]:
        """A send side for one more sender (``RuntimeError`` once the receiver drains)."""
        if self.joining is None:
            raise RuntimeError(f"receive stream {self.name!r} takes no new senders")
        return self.joining.clone()

    def close_joining(self) -> None:
        """No sender joins any more: the receiver's loop ends once its senders have closed."""
        if self.joining is not None:
            self.joining.close()
            self.joining = None


@dataclass(eq=False)  # compared by identity: a reload keeps or replaces each one
class _Target:
    receiver: str
    stream: ChannelSender[Envelope]
    receiver_type: str = ""
    serves_collections: bool = False
    #: The receive stream ``stream`` feeds (kept across a reload when its receiver is).
    inbound: Inbound | None = None


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

    def _rebound(self, target: _Target) -> _Target | None:
        """What took the place of ``target``, whose stream was closed while a message was on
        its way: the receiver's new target after a reload (``rebind``), or ``None`` when the
        reload unbound it. ``ClosedResourceError`` when ``target`` is still in use."""
        if target in self.targets:
            raise anyio.ClosedResourceError
        return next((now for now in self.targets if now.receiver == target.receiver), None)

    async def send(self, item: Any) -> None:
        """Deliver ``item`` to every receiver, waiting while a buffer is full."""
        envelope = Envelope(item, None, self.sender, current())
        for first in self.targets:
            target: _Target | None = first
            while target is not None:
                try:
                    await target.stream.send(envelope)
                    break
                except anyio.ClosedResourceError:
                    target = self._rebound(target)
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
                except (anyio.WouldBlock, anyio.ClosedResourceError):
                    left = await self._wait_to_deliver(target, envelope, remaining)
                    if left is None:
                        return error_reply(
                            "unavailable",
                            f"{target.receiver!r} is not taking messages: its {self.name!r} "
                            f"buffer stayed full for {timeout:g}s",
                        )
                    remaining = left
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

    async def _wait_to_deliver(
        self, target: _Target, envelope: Envelope, remaining: float
    ) -> float | None:
        """The slow path: wait for room (in the receiver's new stream, when a reload rebound
        it), within what is left of the timeout; what is left then, or ``None`` when the
        buffer stayed full."""
        started = anyio.current_time()
        with anyio.move_on_after(remaining) as waited:
            while True:
                try:
                    await target.stream.send(envelope)
                    break
                except anyio.ClosedResourceError:
                    rebound = self._rebound(target)
                    if rebound is None:
                        raise
                    target = rebound
        # Not ``remaining <= 0``: uvloop's clock counts whole milliseconds, so a wait cut
        # short at its deadline can measure a little less than it.
        if waited.cancelled_caught:
            return None
        return remaining - (anyio.current_time() - started)

    async def aclose(self) -> None:
        for target in self.targets:
            await target.stream.aclose()


def wire(
    components: Mapping[str, Wired],
    bindings: Sequence[BindingSpec],
    metrics: SystemMetrics | None = None,
    deadlines: Deadlines | None = None,
    *,
    senders: Collection[str] | None = None,
) -> None:
    """Create the streams of ``bindings`` and hand them to the components' stream dicts.

    A receiver that has the stream already keeps it and the new sender joins it; a sender that
    has the stream already gets one more target. With ``senders`` (a reload: the components
    it adds) only those senders get targets; every receiver still gets its streams.
    """
    for binding in bindings:
        receiver = components[binding.to_component]
        inbound = _inbound(receiver, binding, metrics)
        if senders is not None and binding.from_component not in senders:
            continue
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
        outbound.targets.append(_target(receiver, inbound))


def rebind(
    components: Mapping[str, Wired], bindings: Sequence[BindingSpec], senders: Collection[str]
) -> list[ChannelSender[Envelope]]:
    """Point the memory send streams of the running ``senders`` at the receivers that
    ``bindings`` now give them, in ``components`` (a reload).

    A target whose receive stream is still the receiver's is kept as it is; one per new
    receive stream joins it. Each stream's targets change in one step, so a message goes
    either to the old receivers or to the new ones. The send sides no target uses any more
    are returned: the caller closes them, which lets the receivers they fed drain.
    """
    wanted: dict[tuple[str, str], list[BindingSpec]] = {}
    for binding in bindings:
        if binding.from_component in senders:
            wanted.setdefault((binding.from_component, binding.stream_name), []).append(binding)
    detached: list[ChannelSender[Envelope]] = []
    for (name, stream), chosen in wanted.items():
        outbound = components[name].send_streams.get(stream)
        if not isinstance(outbound, Outbound):
            raise TypeError(f"{name!r} stream {stream!r} is not a memory binding")
        old = list(outbound.targets)
        targets: list[_Target] = []
        for binding in chosen:
            receiver = components[binding.to_component]
            inbound = receiver.receive_streams[binding.stream_name]
            kept = next((t for t in old if t.inbound is inbound), None)
            if kept is not None:
                old.remove(kept)
                targets.append(kept)
            else:
                targets.append(_target(receiver, inbound))
        outbound.targets = targets
        detached += [t.stream for t in old]
    return detached


def _inbound(receiver: Wired, binding: BindingSpec, metrics: SystemMetrics | None) -> Inbound:
    inbound = receiver.receive_streams.get(binding.stream_name)
    if inbound is None:
        send: ChannelSender[Envelope]
        receive: ChannelReceiver[Envelope]
        send, receive = channel(binding.buffer_size)
        received: _Counter = (
            metrics.messages_received.labels(receiver.name, binding.stream_name)
            if metrics
            else _NoCounter()
        )
        inbound = Inbound(binding.stream_name, receive, binding.buffer_size, received, send)
        receiver.receive_streams[binding.stream_name] = inbound
    return inbound


def _target(receiver: Wired, inbound: Inbound) -> _Target:
    return _Target(
        receiver.name, inbound.join(), receiver.type_name, receiver.serves_collections, inbound
    )

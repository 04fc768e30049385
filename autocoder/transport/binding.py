"""A system's nats bindings: the senders components send through, and the receiving side.

``NatsTransport.wire`` does for nats bindings what ``runtime.wiring.wire`` does for memory
ones, for the components of this process only (``autocoder run --components``):

- a local sender gets a ``NatsOutbound`` in its ``send_streams``: ``request`` is NATS
  request/reply (``requests``), ``send`` a JetStream publish (``sends``), each to every bound
  receiver, wherever it runs;
- a local receiver gets an ordinary receive stream (``Inbound``), fed by a ``Responder`` (the
  requests) and by ``Lanes`` (the sends), so the component's worker loop serves it as any
  other.

``connect`` fails start-up when NATS is unreachable; ``run`` serves until every local
receiver has stopped accepting (shutdown), then gives its lanes back and closes the receive
streams, which ends the receivers' loops as closing a memory binding does.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
from anyio.abc import TaskStatus
from opentelemetry.trace import Tracer

from autocoder.errors import ValidationFailed
from autocoder.observability.carried import current, headers_of
from autocoder.observability.instruments import CounterChild
from autocoder.observability.metrics import SystemMetrics
from autocoder.runtime.channel import ChannelReceiver, ChannelSender, channel
from autocoder.runtime.component import ComposedComponent
from autocoder.runtime.messages import Envelope, Message, Reply
from autocoder.runtime.wiring import BindingSpec, Inbound
from autocoder.transport.connection import NatsLink
from autocoder.transport.lanes import LaneCounters, Lanes, lane_of
from autocoder.transport.leases import LeaseKeeper
from autocoder.transport.requests import ReplyWriter, Responder, request
from autocoder.transport.sends import Target, ensure_binding, publish
from autocoder.transport.subjects import BindingNames, encode


class NatsBindingSpec(BindingSpec, Protocol):
    """What the transport needs of a binding: wiring's, plus the nats options (the
    blueprint's ``Binding`` model is one)."""

    @property
    def partitions(self) -> int: ...
    @property
    def partition_key(self) -> str: ...
    @property
    def max_deliver(self) -> int: ...
    @property
    def ack_wait(self) -> float: ...


@dataclass
class NatsOutbound:
    """A component's output stream bound over nats; the same interface as ``Outbound``."""

    link: NatsLink
    sender: str
    name: str
    targets: list[Target] = field(default_factory=list)
    sent: CounterChild = field(default_factory=CounterChild)
    out: CounterChild = field(default_factory=CounterChild)

    @property
    def receivers(self) -> list[str]:
        return [t.receiver for t in self.targets]

    def collection_servers(self) -> list[tuple[str, str]]:
        """(name, type) of each receiver that declares it serves collections."""
        return [(t.receiver, t.receiver_type) for t in self.targets if t.serves_collections]

    def only(self, receiver: str) -> NatsOutbound:
        """This stream narrowed to one of its receivers: a request reaches no other."""
        targets = [t for t in self.targets if t.receiver == receiver]
        return NatsOutbound(self.link, self.sender, self.name, targets, self.sent, self.out)

    async def send(self, item: Any) -> None:
        """Store ``item`` for every receiver; ``Unavailable`` when NATS cannot take it now."""
        try:
            payload = encode(item)
        except TypeError as exc:
            raise ValidationFailed(f"cannot send on {self.name!r}: not JSON: {exc}") from exc
        msg_id = uuid.uuid4().hex
        headers = headers_of(current())
        for target in self.targets:
            lane = lane_of(item, target.partitions, target.partition_key)
            await publish(self.link, target, lane, payload, msg_id, headers)
        self.sent.inc()
        self.out.inc()

    async def request(self, message: Message, timeout: float) -> Reply:
        """The first receiver's reply; the other receivers get the message without one."""
        first, *others = self.targets
        headers = headers_of(current()) or None
        client = self.link.client
        if client is not None and client.is_connected:
            self.sent.inc()
            self.out.inc()
            if others:
                payload = encode(message)
                for target in others:
                    await client.publish(target.names.request_subject, payload, headers=headers)
        return await request(
            self.link,
            first.names.request_subject,
            first.receiver,
            self.name,
            message,
            timeout,
            headers,
        )

    async def aclose(self) -> None:
        """Nothing to close: the receivers run in their own processes."""


@dataclass
class _Receiving:
    """A local receiver's stream bound over nats."""

    component: ComposedComponent
    target: Target
    send: ChannelSender[Envelope]
    counters: LaneCounters


class NatsTransport:
    """Every nats binding of the components in this process, over one connection."""

    def __init__(self, system: str, url: str, metrics: SystemMetrics | None = None) -> None:
        self.system = system
        self.metrics = metrics
        self.process_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.link = NatsLink(url, f"autocoder {system} {self.process_id}", metrics)
        self._senders: list[NatsOutbound] = []
        self._receiving: list[_Receiving] = []
        self._writer = ReplyWriter(self.link)

    def _counter(self, family: Any, *labels: str) -> CounterChild:
        if self.metrics is None:
            return CounterChild()
        child: CounterChild = getattr(self.metrics, family).labels(*labels)
        return child

    def wire(
        self,
        components: Mapping[str, ComposedComponent],
        bindings: Sequence[NatsBindingSpec],
        kinds: Mapping[str, tuple[str, bool]],
    ) -> None:
        """Bind the local ends of ``bindings`` (nats bindings of this blueprint); ``kinds``
        gives each component's type and whether it serves collections, wherever it runs."""
        for binding in bindings:
            names = BindingNames(self.system, binding.to_component, binding.stream_name)
            receiver_type, serves_collections = kinds.get(binding.to_component, ("", False))
            target = Target(
                binding.to_component,
                names,
                binding.partitions,
                binding.partition_key,
                binding.max_deliver,
                binding.ack_wait,
                receiver_type,
                serves_collections,
            )
            sender = components.get(binding.from_component)
            if sender is not None:
                self._add_sender(sender, binding.stream_name, target)
            receiver = components.get(binding.to_component)
            if receiver is not None and binding.stream_name not in receiver.receive_streams:
                self._add_receiver(receiver, binding, target)

    def _add_sender(self, sender: ComposedComponent, stream: str, target: Target) -> None:
        outbound = sender.send_streams.get(stream)
        if outbound is None:
            outbound = NatsOutbound(
                self.link,
                sender.name,
                stream,
                sent=self._counter("messages_sent", sender.name, stream),
                out=self._counter("transport_messages", sender.name, stream, "out"),
            )
            sender.send_streams[stream] = outbound
            self._senders.append(outbound)
            self._report_health(sender)
        assert isinstance(outbound, NatsOutbound), "checked by the blueprint loader"
        outbound.targets.append(target)

    def _add_receiver(
        self, receiver: ComposedComponent, binding: NatsBindingSpec, target: Target
    ) -> None:
        stream = binding.stream_name
        send: ChannelSender[Envelope]
        receive: ChannelReceiver[Envelope]
        send, receive = channel(binding.buffer_size)
        receiver.receive_streams[stream] = Inbound(
            stream,
            receive,
            binding.buffer_size,
            self._counter("messages_received", receiver.name, stream),
        )
        counters = LaneCounters(
            self._counter("transport_messages", receiver.name, stream, "in"),
            self._counter("transport_redeliveries", receiver.name, stream),
            self._counter("transport_dead_letters", receiver.name, stream),
        )
        self._receiving.append(_Receiving(receiver, target, send, counters))
        self._report_health(receiver)

    def _report_health(self, component: ComposedComponent) -> None:
        if self.link.health not in component.health_reports:
            component.health_reports.append(self.link.health)

    # -- running ---------------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect and create the streams and consumers that are missing."""
        await self.link.connect()
        targets = {t.names: t for out in self._senders for t in out.targets}
        targets.update({r.target.names: r.target for r in self._receiving})
        for target in targets.values():
            await ensure_binding(self.link.js, target)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve the local receivers' nats bindings until cancelled.

        Each receiver's bindings stop taking messages once it has stopped accepting; replies
        are written until the end, so requests accepted before the drain get theirs.
        """
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._writer.run)
            for receiving in self._receiving:
                responder = Responder(
                    self.link,
                    receiving.target.names,
                    receiving.send.clone(),
                    self._writer,
                    receiving.counters.received,
                    _tracer_of(receiving.component),
                )
                await responder.start()
                tg.start_soon(self._serve, receiving, responder)
            task_status.started()

    async def _serve(self, receiving: _Receiving, responder: Responder) -> None:
        component = receiving.component
        stopping = component.stopped_accepting().is_set
        keeper = LeaseKeeper(
            self.link, receiving.target.names, receiving.target.partitions, self.process_id
        )
        lanes = Lanes(
            self.link,
            receiving.target,
            receiving.send,
            keeper,
            receiving.counters,
            stopping,
            component.dead_letter,
            _tracer_of(component),
        )
        async with anyio.create_task_group() as tg:
            tg.start_soon(lanes.run)
            await component.stopped_accepting().wait()
            await responder.stop()

    async def close(self) -> None:
        for receiving in self._receiving:
            receiving.send.close()
        self._writer.close()
        await self.link.close()


def _tracer_of(component: ComposedComponent) -> Tracer | None:
    return component.tracing.tracer if component.tracing is not None else None

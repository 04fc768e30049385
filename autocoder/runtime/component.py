"""ComposedComponent: the base of every component, built-in or user-written.

A component has named ``receive_streams`` (bindings into it) and ``send_streams`` (bindings out
of it). The runtime calls ``setup()`` once, then ``run()`` until the system stops, then
``cleanup()``. The default ``run()`` serves every receive stream with ``concurrency`` workers,
calling ``process_item`` for each item and putting its return value in the sender's reply slot.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
import orjson
import structlog
from opentelemetry.trace import Status, StatusCode
from pydantic import BaseModel, ConfigDict, Field

from autocoder.errors import error_reply
from autocoder.logging import mask_secrets
from autocoder.observability.carried import adopt, release
from autocoder.observability.metrics import SystemMetrics
from autocoder.observability.perf import Meter
from autocoder.observability.spans import message_span
from autocoder.runtime.messages import Envelope, Message, Reply
from autocoder.runtime.wiring import Inbound, SendSide

if TYPE_CHECKING:
    from autocoder.observability.tracing import Tracing

#: Seconds a dead letter may wait for room on its stream before it is logged as lost.
DEAD_LETTER_TIMEOUT = 10.0


class ComponentConfig(BaseModel):
    """Base of component config models: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class RestartPolicy(BaseModel):
    """How often a component whose processing loop failed is restarted, and after what wait."""

    model_config = ConfigDict(extra="forbid")

    max_restarts: int = Field(default=3, ge=0)
    backoff_seconds: float = Field(default=1.0, ge=0)


class ComposedComponent:
    """Subclass this, declare ``Config``, and override ``process_item``.

    Class attributes a subclass may set:

    - ``Config``: the pydantic model of its ``config`` mapping (unknown keys are errors).
    - ``description``: one line for ``autocoder components``.
    - ``accepts_input``: ``False`` when no binding may point into it.
    - ``serves_collections``: ``True`` when it answers ``{"action": "describe"}`` with the
      collections it serves (a store does; so does a component in front of a store, by passing
      the message on). Only such components get ``describe`` from an endpoint at start-up, and
      the endpoint serves the collections they name through them. Everything else is sent
      nothing by the runtime: every item it receives comes from a sender that chose to send it.
    - ``describes_receivers``: ``True`` when ``start()`` asks the receivers of its send streams
      that serve collections to describe them (an endpoint builds its routes from the
      answers). A reload that adds, removes or replaces one of those replaces it too, so that
      it starts again with what they serve now.
    - ``measures_itself``: ``True`` when ``process_item`` records its own processing time in
      ``self.meter`` (stores do, so that messages given through the Python API are measured
      too); the serving loop then does not measure the message a second time.
    """

    Config: ClassVar[type[BaseModel]] = ComponentConfig
    description: ClassVar[str] = "A user-defined stream component."
    accepts_input: ClassVar[bool] = True
    serves_collections: ClassVar[bool] = False
    describes_receivers: ClassVar[bool] = False
    measures_itself: ClassVar[bool] = False

    def __init__(
        self,
        name: str,
        config: BaseModel | Mapping[str, Any] | None = None,
        *,
        restart: RestartPolicy | None = None,
        dead_letters: str | None = None,
    ) -> None:
        self.name = name
        self.type_name = type(self).__name__
        if isinstance(config, self.Config):
            self.config: Any = config
        else:
            self.config = self.Config.model_validate(dict(config or {}))
        self.restart = restart or RestartPolicy()
        #: The send stream that takes the messages whose processing failed (``dead_letters:``).
        self.dead_letters = dead_letters
        self.receive_streams: dict[str, Inbound] = {}
        self.send_streams: dict[str, SendSide] = {}
        #: Workers per receive stream; a store on a connection pool raises it in ``setup``.
        self.concurrency = 1
        self.healthy = True
        self.is_set_up = False
        self.log = structlog.get_logger("autocoder").bind(component=name)
        self.metrics: SystemMetrics | None = None
        #: The system's tracing (``observability.tracing``) when the ``OTEL_*`` variables turn
        #: it on; the endpoints start their spans with it.
        self.tracing: Tracing | None = None
        #: The running System (``.components``, ``.metrics``, ``.is_ready()``), set by it.
        self.system: Any = None
        #: Extra health fields from what the system attached (a nats binding's
        #: ``transport_connected``), merged by ``health_status()``.
        self.health_reports: list[Callable[[], Mapping[str, Any]]] = []
        self._stop_event: anyio.Event | None = None
        #: Where processing times go (``autocoder_processing_seconds``, and a store's counts).
        self.meter = Meter(name)
        self._errors: dict[str, Any] = {}

    # -- lifecycle -------------------------------------------------------------------------

    async def setup(self) -> None:
        """Acquire resources (connections, sockets). Raise ``StartupError`` when impossible."""

    async def start(self) -> None:
        """Called once every component is set up, after the components this one sends to are
        serving: the place to ask them something before serving (an endpoint asks its stores
        to describe their collections). An exception here stops start-up like one in setup.
        """

    async def run(self) -> None:
        """Serve until every receive stream is closed by its senders.

        A component with no receive stream is a source: it runs until ``stop_accepting()``
        (its sends come from elsewhere, e.g. HTTP requests or the Python API). Sources that do
        work of their own override this and return when ``stop_accepting()`` has been called.
        """
        if not self.receive_streams:
            await self.stopped_accepting().wait()
            return
        async with anyio.create_task_group() as tg:
            for inbound in self.receive_streams.values():
                for _ in range(max(1, self.concurrency)):
                    tg.start_soon(self._serve, inbound)

    async def stop_accepting(self) -> None:
        """Shutdown has begun: a source stops taking new work. Overrides call ``super()``."""
        self.stopped_accepting().set()

    def stopped_accepting(self) -> anyio.Event:
        """Set once shutdown has begun."""
        if self._stop_event is None:
            self._stop_event = anyio.Event()
        return self._stop_event

    async def cleanup(self) -> None:
        """Release what ``setup`` acquired. Called once, also after a failed setup."""

    async def process_item(self, item: Any) -> Reply | None:
        """Handle one item exactly as its sender sent it; the return value answers a caller.

        A reply is a dict with a string ``"status"`` (``"success"``, ``"not_found"`` or
        ``"error"`` with ``"error_type"`` and ``"message"``); ``None`` answers
        ``{"status": "success"}``. Anything else answers the caller with an ``internal`` error.
        """
        return None

    def get_health_status(self) -> dict[str, Any]:
        return {"status": "healthy" if self.healthy else "unhealthy"}

    def health_status(self) -> dict[str, Any]:
        """``get_health_status()`` plus the fields of ``health_reports`` (what probes show)."""
        health = dict(self.get_health_status())
        for report in self.health_reports:
            health.update(report())
        return health

    @classmethod
    def unshared_state(cls, config: Any) -> str | None:
        """Why several processes running this component with ``config`` would each hold state
        of their own that the others cannot see (``autocoder run --workers N`` refuses them),
        or ``None`` when they can run side by side. A user's component is taken at its word:
        the default is ``None``."""
        return None

    @classmethod
    def listen_addresses(cls, config: Any) -> list[tuple[str, int]]:
        """The (host, port) pairs a component with this config binds; checked for clashes."""
        return []

    def urls(self) -> list[str]:
        """Addresses this component serves on, printed at start-up."""
        return []

    # -- talking to other components -------------------------------------------------------

    async def request(self, stream_name: str, message: Message, timeout: float = 10.0) -> Reply:
        """Send ``message`` over the binding ``stream_name`` and await the receiver's reply.

        Never waits longer than ``timeout``: a full buffer answers ``unavailable``, a late
        reply ``timeout``, a receiver that stops or fails ``unavailable``.
        """
        return await self._outbound(stream_name).request(message, timeout)

    async def send(self, stream_name: str, item: Any) -> None:
        """Send ``item`` over the binding ``stream_name`` without awaiting a reply."""
        await self._outbound(stream_name).send(item)

    def _outbound(self, stream_name: str) -> SendSide:
        try:
            return self.send_streams[stream_name]
        except KeyError:
            bound = ", ".join(sorted(self.send_streams)) or "none"
            raise LookupError(
                f"component {self.name!r} has no binding named {stream_name!r} (bound: {bound})"
            ) from None

    # -- the serving loop ------------------------------------------------------------------

    async def _serve(self, inbound: Inbound) -> None:
        stream, received = inbound.stream, inbound.received
        while True:
            # What is queued already is taken without a trip through the event loop.
            try:
                envelope = await stream.receive()
            except anyio.EndOfStream:
                return
            received.inc()
            await self.handle(envelope, inbound.name)

    async def handle(self, envelope: Envelope, stream: str = "") -> None:
        """Process one envelope (which came in on ``stream``) and answer its reply slot.

        An exception escaping ``process_item`` answers the caller ``unavailable``, sends the
        message on the dead-letter stream (unless its binding delivers it again, see
        ``Envelope.redelivers``) and fails the loop, so the supervisor restarts the component;
        cancellation answers likewise.
        """
        item = envelope.message
        started = None if self.measures_itself else time.perf_counter()
        carried, span = envelope.carried, None
        if carried is not None and carried.trace is not None:
            span, traced = message_span(carried.trace, self.name, self.type_name, stream, item)
            carried = carried.with_trace(traced)
        adopted = None if carried is None else adopt(carried)
        try:
            reply = await self.process_item(item)
        except BaseException as exc:
            if span is not None:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            if envelope.reply is not None and not envelope.reply.answered:
                envelope.reply.fail(
                    error_reply(
                        "unavailable", f"component {self.name!r} failed while processing: {exc!r}"
                    )
                )
            self.count_error("unavailable")
            if isinstance(exc, Exception) and not envelope.redelivers:
                await self.dead_letter(item, stream=stream, error=exc)
            raise
        finally:
            if adopted is not None:
                release(adopted)
            if span is not None:
                span.end()
            if started is not None:
                self.observe_processing(item, time.perf_counter() - started)
        if reply is None:
            reply = {"status": "success"}
        elif not isinstance(reply, dict) or not isinstance(reply.get("status"), str):
            reply = self._malformed_reply(reply)
        if envelope.reply is not None:
            envelope.reply.set(reply)
        if reply["status"] == "error":
            self.count_error(str(reply.get("error_type", "internal")))

    async def dead_letter(
        self, message: Any, *, stream: str, error: BaseException | str, attempts: int = 1
    ) -> bool:
        """Send ``message``, whose processing failed, on the ``dead_letters`` stream.

        The dead letter is ``{"event": "dead_letter", "component", "stream", "error",
        "message", "attempts", "at"}``: ``stream`` is the one the message came in on,
        ``attempts`` how often it was processed, ``at`` the time (ISO 8601, UTC). The runtime
        calls this when an exception escapes ``process_item``; a binding that delivers a
        message again after a failure (nats ``send``) calls it once it gives up. Without
        ``dead_letters`` the failure is only logged. Returns whether the letter was sent: one
        the stream does not take within ``DEAD_LETTER_TIMEOUT`` seconds (its receiver stopped
        or stays full) is logged as lost, never dropped silently.
        """
        reason = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        reason = mask_secrets(reason)
        if self.metrics is not None:
            self.metrics.dead_letters.labels(self.name).inc()
        if self.dead_letters is None or self.dead_letters not in self.send_streams:
            self.log.error("dead_letter", stream=stream, attempts=attempts, error=reason)
            return False
        letter = {
            "event": "dead_letter",
            "component": self.name,
            "stream": stream,
            "error": reason,
            "message": _storable(message),
            "attempts": attempts,
            "at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        sent = False
        with anyio.move_on_after(DEAD_LETTER_TIMEOUT, shield=True):
            try:
                await self.send(self.dead_letters, letter)
                sent = True
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                pass
        if sent:
            self.log.warning(
                "dead_letter", stream=stream, attempts=attempts, sent_to=self.dead_letters
            )
        else:
            self.log.error(
                "dead_letter_lost",
                stream=stream,
                attempts=attempts,
                error=reason,
                dead_letters=self.dead_letters,
            )
        return sent

    def _malformed_reply(self, reply: object) -> Reply:
        self.log.error("malformed_reply", returned=type(reply).__name__)
        return error_reply(
            "internal",
            f"component {self.name!r} returned {type(reply).__name__} from process_item; "
            'a reply is a dict with a "status" (or None)',
        )

    # -- metrics helpers -------------------------------------------------------------------

    def observe_processing(self, item: Any, seconds: float) -> None:
        """Record one message's processing time, labelled with its ``action`` field."""
        if self.metrics is None:
            return
        action = item.get("action", "") if isinstance(item, dict) else ""
        self.meter.record(self.metrics, action if isinstance(action, str) else "", seconds)

    def count_error(self, error_type: str) -> None:
        if self.metrics is None:
            return
        child = self._errors.get(error_type)
        if child is None:
            child = self.metrics.message_errors.labels(self.name, error_type)
            self._errors[error_type] = child
        child.inc()


def _storable(message: Any) -> Any:
    """``message`` as JSON can hold it (a store keeps dead letters): else its text, not lost."""
    if isinstance(message, bytes):
        return message.decode("utf-8", "replace")
    try:
        orjson.dumps(message)
    except TypeError:
        return repr(message)
    return message

"""The one NATS connection of a running system: connecting, its state, and outages.

At start-up the server must answer within ``CONNECT_SECONDS``, else ``TransportConnectionError``
names host:port (never the credentials of the URL). Once connected, nats-py reconnects by
itself for ever; meanwhile ``connected`` is false, and every request or send fails at once as
``unavailable`` instead of waiting in nats-py's reconnect buffer (which is turned off:
``pending_size=0`` makes a publish while disconnected raise). Requests in flight when the
connection drops are answered ``unavailable`` too, and so are publishes awaiting JetStream's
acknowledgement: the connection's ``replies`` fails them all at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from urllib.parse import urlsplit

import anyio
import nats
import structlog
from nats.aio.client import Client
from nats.js import JetStreamContext

from autocoder.errors import TransportConnectionError, Unavailable
from autocoder.observability.metrics import SystemMetrics
from autocoder.transport.replies import Replies

CONNECT_SECONDS = 5.0
#: Ping the server this often; two unanswered pings and the connection counts as lost.
PING_SECONDS = 2
RECONNECT_WAIT_SECONDS = 0.5

log = structlog.get_logger("autocoder")


def address(url: str) -> str:
    """``host:port`` of a NATS URL, without credentials."""
    parts = urlsplit(url if "://" in url else f"nats://{url}")
    try:
        port = parts.port or 4222
    except ValueError:
        port = 4222
    return f"{parts.hostname or '127.0.0.1'}:{port}"


class NatsLink:
    """A NATS connection shared by every nats binding of one process."""

    def __init__(self, url: str, name: str, metrics: SystemMetrics | None = None) -> None:
        self.url = url
        self.address = address(url)
        self.name = name
        self.client: Client | None = None
        self._js: JetStreamContext | None = None
        #: The replies awaited by requests and publishes; they fail at once when the
        #: connection drops.
        self.replies = Replies()
        if metrics is not None:
            metrics.transport_connected.sources.append(self._gauge)

    def _gauge(self) -> Iterator[tuple[tuple[str, ...], float]]:
        yield (), 1.0 if self.connected else 0.0

    @property
    def connected(self) -> bool:
        return self.client is not None and self.client.is_connected

    @property
    def js(self) -> JetStreamContext:
        assert self._js is not None, "NatsLink.connect() first"
        return self._js

    def require_connected(self, what: str) -> Client:
        """The client, or ``Unavailable`` saying that NATS is not connected."""
        client = self.client
        if client is None or not client.is_connected:
            raise Unavailable(f"{what}: NATS at {self.address} is not connected")
        return client

    def health(self) -> dict[str, bool]:
        return {"transport_connected": self.connected}

    async def connect(self) -> None:
        """Connect, or raise ``TransportConnectionError`` within ``CONNECT_SECONDS``."""
        client = Client()
        try:
            with anyio.fail_after(CONNECT_SECONDS):
                await client.connect(
                    self.url,
                    name=self.name,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    closed_cb=self._on_closed,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=RECONNECT_WAIT_SECONDS,  # type: ignore[arg-type]
                    connect_timeout=2,
                    ping_interval=PING_SECONDS,
                    max_outstanding_pings=2,
                    pending_size=0,
                )
                await self.replies.start(client)
        except (TimeoutError, OSError, nats.errors.Error) as exc:
            with anyio.CancelScope(shield=True), suppress(Exception):
                await client.close()
            reason = "no answer" if isinstance(exc, TimeoutError) else type(exc).__name__
            raise TransportConnectionError(
                f"NATS at {self.address} is unreachable ({reason} within {CONNECT_SECONDS:g}s)"
            ) from exc
        self.client = client
        self._js = client.jetstream()
        log.info("transport_connected", server=self.address)

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            with anyio.CancelScope(shield=True), suppress(Exception):
                await client.close()

    # -- nats-py callbacks -------------------------------------------------------------------

    async def _on_error(self, exc: Exception) -> None:
        log.debug("transport_error", server=self.address, error=type(exc).__name__)

    async def _on_disconnected(self) -> None:
        if self.client is None:
            return  # closing
        log.warning("transport_disconnected", server=self.address)
        self.replies.lost()

    async def _on_reconnected(self) -> None:
        log.info("transport_reconnected", server=self.address)

    async def _on_closed(self) -> None:
        log.debug("transport_closed", server=self.address)

"""Serving an ASGI app with uvicorn inside the runtime's event loop.

The runtime owns the loop and the signals: an endpoint binds its socket in ``setup()`` (so a
port already taken fails start-up with a clear message), serves on it in ``run()`` with a
uvicorn server that installs no signal handlers and configures no logging, and asks it to stop
from ``stop_accepting()``; uvicorn then closes the listener and lets requests in flight finish.
"""

from __future__ import annotations

import errno
import socket
from typing import Any

import uvicorn

from autocoder.errors import StartupError

try:  # httptools is uvicorn's fast HTTP/1.1 parser; fall back to h11 where it is missing.
    import httptools  # noqa: F401

    HTTP_PROTOCOL = "httptools"
except ImportError:  # pragma: no cover - httptools ships with uvicorn[standard]
    HTTP_PROTOCOL = "h11"

__all__ = ["HTTP_PROTOCOL", "InLoopServer", "bind_socket", "format_url", "uvicorn_config"]


def bind_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A TCP socket listening on ``host:port``; ``StartupError`` when impossible.

    The message says where and why (``cannot listen on 127.0.0.1:8000: address already in
    use``); the supervisor prefixes it with the component's name and type. With ``reuse_port``
    (the workers of ``autocoder run --workers N``) the socket is opened with ``SO_REUSEPORT``:
    each worker listens on the same port and the kernel spreads new connections over them.
    """
    where = f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE | socket.AI_NUMERICSERV
        )
    except socket.gaierror as exc:
        raise StartupError(f"cannot listen on {where}: unknown host ({exc})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        # Listening now makes a second socket on the same port fail here, not later.
        sock.listen(2048)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        reason = (
            "address already in use"
            if exc.errno == errno.EADDRINUSE
            else (exc.strerror or str(exc)).lower()
        )
        raise StartupError(f"cannot listen on {where}: {reason}") from None
    return sock


def format_url(host: str, port: int) -> str:
    """``http://host:port``, with brackets around an IPv6 address."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def uvicorn_config(app: Any, *, graceful_seconds: float | None = None) -> uvicorn.Config:
    """The uvicorn settings every autocoder endpoint uses (and the benchmark's baseline app).

    No access log and no logging configuration (autocoder logs through structlog), no lifespan
    (components have their own), the fast HTTP parser, and a bounded graceful shutdown.
    """
    return uvicorn.Config(
        app,
        http=HTTP_PROTOCOL,
        lifespan="off",
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=(
            None if graceful_seconds is None else max(1, round(graceful_seconds))
        ),
    )


class InLoopServer:
    """uvicorn serving in the runtime's event loop, leaving signals to the runtime.

    ``uvicorn.Server.serve()`` takes SIGINT and SIGTERM over while it serves and raises a
    signal it caught again when it returns, which would hand the runtime every signal twice.
    So the server is driven through the public steps ``serve()`` is made of: ``Config.load``,
    ``Server.startup``, ``Server.main_loop`` (the one-second tick that keeps the ``Date``
    header current and watches ``should_exit``) and ``Server.shutdown``.
    ``tests/http/test_lifecycle.py`` checks that signals stay untouched and requests in flight
    still finish, so a uvicorn release that changes these steps fails there.

    ``await server.serve([sock])`` serves until ``request_shutdown()``, then waits for
    requests in flight to complete and returns.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        self.config = config
        self.server = uvicorn.Server(config)

    async def serve(self, sockets: list[socket.socket]) -> None:
        await self.start(sockets)
        await self.run_until_exit()
        await self.stop(sockets)

    async def start(self, sockets: list[socket.socket]) -> None:
        """Start accepting connections on ``sockets``."""
        config, server = self.config, self.server
        if not config.loaded:
            config.load()
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=sockets)

    async def run_until_exit(self) -> None:
        """Serve until ``request_shutdown()`` (the tick keeps the ``Date`` header current)."""
        if self.server.started and not self.server.should_exit:
            await self.server.main_loop()

    async def stop(self, sockets: list[socket.socket]) -> None:
        """Close ``sockets`` and wait for requests in flight to complete."""
        if self.server.started:
            await self.server.shutdown(sockets=sockets)

    def request_shutdown(self) -> None:
        """Stop accepting connections; ``serve()`` returns once requests in flight are done."""
        self.server.should_exit = True

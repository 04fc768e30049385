"""A listening socket and the server on it, which an endpoint can hand to the one replacing it.

When a reload replaces an endpoint with one on the same address, the new endpoint takes over
the old one's ``Listener``: the socket stays open and uvicorn keeps its connections, so no
client sees a refused or a closed connection. Only the ASGI application behind the server
changes (``AppSlot``): a request that reached the old application finishes there, every later
one reaches the new one, on the same connection too.
"""

from __future__ import annotations

import socket
from typing import Any

import anyio

from autocoder.http.server import InLoopServer, uvicorn_config

__all__ = ["AppSlot", "Installed", "Listener"]


class Installed:
    """One application installed in an ``AppSlot``, and how many of its calls are in flight."""

    __slots__ = ("active", "app", "idle")

    def __init__(self, app: Any) -> None:
        self.app = app
        self.active = 0
        self.idle: anyio.Event | None = None

    async def finished(self) -> None:
        """Return once no call of this application is in flight (after it was replaced)."""
        while self.active:
            self.idle = anyio.Event()
            await self.idle.wait()


class AppSlot:
    """The ASGI application a server runs, replaceable while it serves."""

    __slots__ = ("current",)

    def __init__(self) -> None:
        self.current: Installed | None = None

    def install(self, app: Any) -> Installed:
        """Send every call from now on to ``app``."""
        self.current = Installed(app)
        return self.current

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        installed = self.current
        assert installed is not None, "a listener serves once an application is installed"
        installed.active += 1
        try:
            await installed.app(scope, receive, send)
        finally:
            installed.active -= 1
            if not installed.active and installed.idle is not None:
                installed.idle.set()


class Listener:
    """A listening socket and, once an owner serves on it, the uvicorn server on it."""

    def __init__(self, sock: socket.socket) -> None:
        self.socket = sock
        self.slot = AppSlot()
        self.server: InLoopServer | None = None
        #: The component serving on it; another one takes over by calling ``serve``.
        self.owner: object | None = None
        self._serving: anyio.CancelScope | None = None

    async def serve(self, owner: object, app: Any, *, graceful_seconds: float) -> None:
        """Serve ``app`` for ``owner`` until it asks to stop, or another owner takes over.

        Taking over happens before the first ``await``: once a caller's task has begun this,
        the listener is its. When asked to stop, the server closes the socket and lets
        requests in flight complete; when taken over, this returns once the requests that
        reached ``app`` have completed, and the server goes on for the new owner.
        """
        installed = self.slot.install(app)
        self.owner = owner
        if self._serving is not None:  # the previous owner's: it returns once its requests end
            self._serving.cancel()
            self._serving = None
        server = self.server
        if server is None:
            server = self.server = InLoopServer(
                uvicorn_config(self.slot, graceful_seconds=graceful_seconds)
            )
            await server.start([self.socket])
        else:  # how long requests in flight get at shutdown: this owner's setting now
            server.config.timeout_graceful_shutdown = max(1, round(graceful_seconds))
        # A cancel scope, not a task watching for the next owner: when asked to stop, the
        # server closes its socket in the very step its loop ends.
        with anyio.CancelScope() as serving:
            self._serving = serving
            await server.run_until_exit()
        if self.owner is owner:
            self._serving = None
            await server.stop([self.socket])
        else:
            await installed.finished()

    def request_shutdown(self, owner: object) -> None:
        """``owner`` stops: the server stops accepting, unless another owner has taken over."""
        if self.server is not None and self.owner is owner:
            self.server.request_shutdown()

    def close(self, owner: object) -> None:
        """Close the socket, unless another owner has taken over (uvicorn closes it when it
        stops; this closes it when the server never started or did not get to stop)."""
        if self.owner in (None, owner):
            self.socket.close()

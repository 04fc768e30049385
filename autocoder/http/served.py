"""ServedComponent: the life of a component that serves HTTP with uvicorn in the event loop.

``setup()`` binds the listening socket (so a port already taken stops start-up with one line);
a subclass builds its ASGI application in ``start()`` and hands it to ``serve_app``; ``run()``
serves until ``stop_accepting()``, after which uvicorn lets requests in flight complete;
``cleanup()`` closes the socket if uvicorn did not. FastAPIEndpoint and MetricsEndpoint are two.
"""

from __future__ import annotations

import socket
from typing import Any, ClassVar

from autocoder.http.server import InLoopServer, bind_socket, format_url, uvicorn_config
from autocoder.runtime.component import ComposedComponent

__all__ = ["ServedComponent"]


class ServedComponent(ComposedComponent):
    """A component listening on ``config.host``:``config.port``; nothing is bound into it."""

    accepts_input: ClassVar[bool] = False
    #: With ``autocoder run --workers N``: False shares the port between the workers (the
    #: kernel spreads connections over them); True gives worker ``k`` (1-based) a port of its
    #: own, ``port + k - 1``, for what must answer for one process (its metrics).
    port_per_worker: ClassVar[bool] = False

    def __init__(self, name: str, config: Any = None, **kwargs: Any) -> None:
        super().__init__(name, config, **kwargs)
        #: The port actually listened on (differs from the config's when that is 0).
        self.port: int = self.config.port
        #: Set by the worker supervisor: listen with SO_REUSEPORT, beside the other workers.
        self.reuse_port = False
        self._socket: socket.socket | None = None
        self._server: InLoopServer | None = None
        self._stopping = False

    @classmethod
    def listen_addresses(cls, config: Any) -> list[tuple[str, int]]:
        return [(config.host, config.port)] if config.port else []

    @property
    def base_url(self) -> str:
        return format_url(self.config.host, self.port)

    def serve_app(self, app: Any, *, graceful_seconds: float) -> None:
        """Serve ``app`` from ``run()`` on; in-flight requests get ``graceful_seconds`` at stop."""
        self._server = InLoopServer(uvicorn_config(app, graceful_seconds=graceful_seconds))

    def serving_details(self) -> dict[str, Any]:
        """What the ``serving`` log line says besides the URL."""
        return {}

    async def setup(self) -> None:
        self._socket = bind_socket(self.config.host, self.port, reuse_port=self.reuse_port)
        self.port = self._socket.getsockname()[1]

    async def run(self) -> None:
        if self._socket is None or self._server is None or self._stopping:
            await self.stopped_accepting().wait()
            return
        self.log.info("serving", url=self.base_url, **self.serving_details())
        await self._server.serve(sockets=[self._socket])
        self._socket = None  # uvicorn closed it

    async def stop_accepting(self) -> None:
        self._stopping = True
        if self._server is not None:
            self._server.request_shutdown()
        await super().stop_accepting()

    async def cleanup(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

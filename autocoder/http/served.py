"""ServedComponent: the life of a component that serves HTTP with uvicorn in the event loop.

``setup()`` binds the listening socket (so a port already taken stops start-up with one line);
a subclass builds its ASGI application in ``start()`` and hands it to ``serve_app``; ``run()``
serves until ``stop_accepting()``, after which uvicorn lets requests in flight complete;
``cleanup()`` closes the socket if uvicorn did not. FastAPIEndpoint and MetricsEndpoint are two.

A component that replaces another on the same address (a reload) takes its ``Listener`` over
(``take_over_listener``) instead of binding: the socket stays open, and its ``run()`` swaps its
application in for the old one's.
"""

from __future__ import annotations

from typing import Any, ClassVar

from autocoder.http.listener import Listener
from autocoder.http.server import bind_socket, format_url
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
        self._listener: Listener | None = None
        self._app: Any = None
        self._graceful_seconds = 1.0
        self._stopping = False

    @classmethod
    def listen_addresses(cls, config: Any) -> list[tuple[str, int]]:
        return [(config.host, config.port)] if config.port else []

    @property
    def base_url(self) -> str:
        return format_url(self.config.host, self.port)

    def serve_app(self, app: Any, *, graceful_seconds: float) -> None:
        """Serve ``app`` from ``run()`` on; in-flight requests get ``graceful_seconds`` at stop."""
        self._app = app
        self._graceful_seconds = graceful_seconds

    def take_over_listener(self, previous: ServedComponent) -> bool:
        """Serve on the socket of ``previous``, which this component replaces (a reload),
        when both listen on the same address; whether it does. ``previous`` serves until this
        one runs."""
        same = (self.config.host, self.config.port) == (previous.config.host, previous.config.port)
        if not same or previous.listener is None:
            return False
        self._listener = previous.listener
        self.port = previous.port
        return True

    @property
    def listener(self) -> Listener | None:
        """The socket (and server) it listens on, once set up."""
        return self._listener

    def serving_details(self) -> dict[str, Any]:
        """What the ``serving`` log line says besides the URL."""
        return {}

    async def setup(self) -> None:
        if self._listener is None:  # not taken over from the component this one replaces
            sock = bind_socket(self.config.host, self.port, reuse_port=self.reuse_port)
            self._listener = Listener(sock)
            self.port = sock.getsockname()[1]

    async def run(self) -> None:
        if self._listener is None or self._app is None or self._stopping:
            await self.stopped_accepting().wait()
            return
        self.log.info("serving", url=self.base_url, **self.serving_details())
        await self._listener.serve(self, self._app, graceful_seconds=self._graceful_seconds)

    async def stop_accepting(self) -> None:
        self._stopping = True
        if self._listener is not None:
            self._listener.request_shutdown(self)
        await super().stop_accepting()

    async def cleanup(self) -> None:
        if self._listener is not None:
            self._listener.close(self)
            self._listener = None

"""A TCP proxy between a store and its database server, to cut the network for real.

``stop()`` closes the listener and every proxied connection (the database seems gone: new
connections are refused, open ones are reset); ``start()`` listens again on the same port.
"""

from __future__ import annotations

import socket
from contextlib import suppress

import anyio
from anyio.abc import SocketStream, TaskGroup


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``upstream_host``:``upstream_port`` while started."""

    def __init__(self, task_group: TaskGroup, upstream_host: str, upstream_port: int) -> None:
        self.task_group = task_group
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self._scope: anyio.CancelScope | None = None

    async def start(self) -> None:
        listener = await anyio.create_tcp_listener(
            local_host="127.0.0.1", local_port=self.port, reuse_port=False
        )
        scope = anyio.CancelScope()
        self._scope = scope

        async def serve() -> None:
            with scope:
                async with listener:
                    await listener.serve(self._handle)

        self.task_group.start_soon(serve)

    async def stop(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
            self._scope = None
        await anyio.sleep(0)  # let the cancelled tasks close their sockets

    async def _handle(self, client: SocketStream) -> None:
        async with client:
            try:
                upstream = await anyio.connect_tcp(*self.upstream)
            except OSError:
                return
            async with upstream, anyio.create_task_group() as tg:
                tg.start_soon(_pump, client, upstream, tg)
                tg.start_soon(_pump, upstream, client, tg)


async def _pump(source: SocketStream, sink: SocketStream, tg: TaskGroup) -> None:
    with suppress(anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        async for chunk in source:
            await sink.send(chunk)
    tg.cancel_scope.cancel()

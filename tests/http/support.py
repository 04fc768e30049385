"""Helpers of the HTTP tests: a running system on a free port and an httpx client for it.

Every test talks to a real uvicorn through real sockets. In-process systems listen on port 0
(the endpoint reports the port it got); subprocess tests pick a free port with ``free_port``.
"""

from __future__ import annotations

import contextlib
import random
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from autocoder.system import System

MEMORY_BLUEPRINT = """
system:
  name: http_test
  components:
    - name: api
      type: FastAPIEndpoint
      config: {port: 0, request_timeout: 5}
    - name: store
      type: Store
      config: {storage_type: memory}
    - name: metrics
      type: MetricsEndpoint
      config: {port: 0}
  bindings:
    - {from_component: api, to_component: store, stream_name: input}
"""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for processes that need it named up front)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_ports_in_a_row(count: int) -> int:
    """A port ``p`` such that ``p`` … ``p + count - 1`` are free on 127.0.0.1 now (the metrics
    ports of ``--workers``, one per worker). Taken below the kernel's ephemeral range, which
    ``free_port`` and every outgoing connection draw from: a connection the kernel gives
    ``p + 1`` as its local port would make it taken before the second worker listens."""
    low = _ephemeral_low()
    for _ in range(200):
        port = random.randrange(10000, low - count)
        try:
            with contextlib.ExitStack() as held:
                for offset in range(count):
                    probe = held.enter_context(socket.socket())
                    probe.bind(("127.0.0.1", port + offset))
        except OSError:
            continue
        return port
    raise AssertionError(f"no {count} free ports in a row")


def _ephemeral_low() -> int:
    """The lowest port the kernel gives outgoing connections (Linux; else IANA's 49152)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
            return int(ports.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 49152


@dataclass
class Running:
    """A running system and clients for its endpoints."""

    system: System
    client: httpx.AsyncClient

    def component(self, name: str) -> Any:
        return self.system.components[name]

    def url_of(self, name: str) -> str:
        return f"http://127.0.0.1:{self.component(name).port}"


@asynccontextmanager
async def running(system: System, endpoint: str = "api") -> AsyncIterator[Running]:
    """Start ``system``; yield it with a client for ``endpoint``; stop it."""
    async with system:
        port = system.components[endpoint].port  # type: ignore[attr-defined]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield Running(system, client)


Serve = Callable[..., AbstractAsyncContextManager[Running]]

"""After an outage, ``/ready`` comes back by itself while only ``/ready`` is polled.

A load balancer sends no traffic to a backend whose ``/ready`` answers 503, so readiness must
recover without requests. ``autocoder run blueprints/multi_store.yaml`` (a database ``Store``
behind one endpoint, a ``V5EnhancedStore`` behind the other) reaches a fresh PostgreSQL
database through a TCP relay in this process. The relay goes down, one request to each
endpoint meets the outage and ``/ready`` turns 503 on both; the relay comes back, and from then
on the test sends nothing but ``GET /ready`` until both answer 200.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import httpx
import pytest

from tests.v5.conftest import fresh_database
from tests.v5.proxy import TcpProxy, free_port

# The test drives an `autocoder run` process and a relay: it runs once, the process on the loop
# its name picks (see tests/conftest.py).
pytestmark = [pytest.mark.anyio, pytest.mark.processes]

MULTI = Path(__file__).resolve().parents[2] / "blueprints" / "multi_store.yaml"
BOUND = 30.0  # seconds any state may take to show (a bound against hangs, not a timing claim)


async def _status(client: httpx.AsyncClient, url: str) -> int | None:
    try:
        return (await client.get(url, timeout=5)).status_code
    except httpx.TransportError:
        return None


async def _until(client: httpx.AsyncClient, urls: list[str], wanted: int) -> None:
    """Poll ``urls`` (GET only) until each answers ``wanted``."""
    with anyio.fail_after(BOUND):
        while True:
            codes = [await _status(client, url) for url in urls]
            if all(code == wanted for code in codes):
                return
            await asyncio.sleep(0.1)


@pytest.mark.postgresql
async def test_ready_recovers_with_only_ready_polled(cwd: Path) -> None:
    async with fresh_database("postgresql", cwd) as fresh, anyio.create_task_group() as tg:
        upstream = urlsplit(fresh.url)
        proxy = TcpProxy(tg, upstream.hostname or "127.0.0.1", upstream.port or 5432)
        await proxy.start()
        user = f"{upstream.username}@" if upstream.username else ""
        through = upstream._replace(netloc=f"{user}127.0.0.1:{proxy.port}").geturl()
        users_port, orders_port = free_port(), free_port()
        env = {
            **os.environ,
            "USERS_DATABASE_URL": through,
            "ORDERS_DATABASE_URL": through,
            "USER_API_PORT": str(users_port),
            "ORDER_API_PORT": str(orders_port),
            "TESTING_MODE": "false",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "autocoder", "run", str(MULTI), "--log-format", "json"],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        users, orders = f"http://127.0.0.1:{users_port}", f"http://127.0.0.1:{orders_port}"
        ready = [f"{users}/ready", f"{orders}/ready"]
        try:
            async with httpx.AsyncClient() as client:
                deadline = time.monotonic() + 60
                while not all([await _status(client, url) == 200 for url in ready]):
                    assert process.poll() is None, "autocoder run exited"
                    assert time.monotonic() < deadline, "not ready within 60 s"
                    await asyncio.sleep(0.1)
                made = await client.post(f"{orders}/orders", json={"customer": "Ann"})
                assert made.status_code == 201, made.text

                await proxy.stop()
                # One request to each store meets the outage: both turn not ready.
                down = await client.get(f"{orders}/orders/{made.json()['id']}", timeout=BOUND)
                assert down.status_code == 503, down.text
                down = await client.get(f"{users}/user_data/1", timeout=BOUND)
                assert down.status_code == 503, down.text
                await _until(client, ready, 503)

                await proxy.start()
                await _until(client, ready, 200)  # nothing but GET /ready from here on

                health = await client.get(f"{orders}/health")
                assert health.status_code == 200, health.text
                back = await client.get(f"{orders}/orders/{made.json()['id']}")
                assert back.status_code == 200, back.text
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
            output, _ = await anyio.to_thread.run_sync(lambda: process.communicate(timeout=30))
            tg.cancel_scope.cancel()
        assert process.returncode == 0, output

"""blueprints/multi_store.yaml end to end on PostgreSQL: two endpoints, three stores, versions."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.v5.conftest import fresh_database
from tests.v5.proxy import free_port

# The test only drives an `autocoder run` process over HTTP: it runs once, the process on the
# loop its name picks (see tests/conftest.py).
pytestmark = [pytest.mark.anyio, pytest.mark.processes]

MULTI = Path(__file__).resolve().parents[2] / "blueprints" / "multi_store.yaml"


@pytest.mark.postgresql
async def test_multi_store_blueprint_on_postgresql(cwd: Path) -> None:
    async with fresh_database("postgresql", cwd) as fresh:
        users_port, orders_port = free_port(), free_port()
        env = {
            **os.environ,
            "USERS_DATABASE_URL": fresh.url,
            "ORDERS_DATABASE_URL": fresh.url,
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
        orders = f"http://127.0.0.1:{orders_port}"
        users = f"http://127.0.0.1:{users_port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, process.communicate()[0]
                try:
                    if httpx.get(f"{orders}/ready", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "not ready within 60 s"
                time.sleep(0.1)
            with httpx.Client(base_url=orders, timeout=10) as client:
                order = client.post("/orders", json={"customer": "Ann", "total": 12.5})
                assert order.status_code == 201, order.text
                assert order.headers["etag"] == '"1"'
                body = order.json()
                assert body["data"]["status"] == "new" and body["data"]["total"] == 12.5
                item = client.post("/order_items", json={"order_id": int(body["id"]), "sku": "X1"})
                assert item.status_code == 201, item.text
                assert item.json()["data"]["quantity"] == 1
                path = f"/orders/{body['id']}"
                paid = client.patch(path, json={"status": "paid"}, headers={"If-Match": '"1"'})
                assert paid.status_code == 200 and paid.json()["version"] == 2
                stale = client.patch(path, json={"status": "void"}, headers={"If-Match": '"1"'})
                assert stale.status_code == 412
            user = httpx.post(f"{users}/user_data", json={"name": "Ann"}, timeout=10)
            assert user.status_code == 201, user.text
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
            output, _ = process.communicate(timeout=30)
        assert process.returncode == 0, output

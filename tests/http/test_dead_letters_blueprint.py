"""``blueprints/dead_letters.yaml`` as a user runs it: a bad order is kept and served."""

from __future__ import annotations

from pathlib import Path

import pytest

from autocoder.system import System
from tests.http.support import running

pytestmark = pytest.mark.anyio

BLUEPRINT = Path(__file__).resolve().parents[2] / "blueprints" / "dead_letters.yaml"


async def test_an_order_the_checker_cannot_price_is_served_from_dead_letters() -> None:
    system = System.from_file(BLUEPRINT, environ={"API_PORT": "0"})
    async with running(system) as r:
        good = await r.client.post("/orders", json={"quantity": 2, "unit_price": "3.50"})
        bad = await r.client.post("/orders", json={"quantity": "two", "unit_price": "3.50"})
        again = await r.client.post("/orders", json={"quantity": 1, "unit_price": "1"})
        letters = (await r.client.get("/dead_letters")).json()["data"]

    assert good.status_code == 201 and good.json()["data"]["total"] == "7.00"
    assert bad.status_code == 503  # the checker raised; it was restarted
    assert again.status_code == 201  # and serves again
    [letter] = letters
    assert letter["event"] == "dead_letter"
    assert (letter["component"], letter["stream"], letter["attempts"]) == ("checker", "input", 1)
    assert letter["message"]["data"] == {"quantity": "two", "unit_price": "3.50"}
    assert letter["error"].startswith("InvalidOperation")

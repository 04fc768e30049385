"""OrderChecker: prices orders on their way to the store (``blueprints/dead_letters.yaml``).

Every create or replace of an order gets a ``total`` (``quantity`` times ``unit_price``) before
the store keeps it; every other message passes through. An order it cannot price (a missing
field, a quantity that is not a number) raises, as a bug in a component would: the caller gets
503, the component is restarted, and the order is sent on the component's ``dead_letters``
stream, where a Store keeps it for someone to look at::

    api --input--> checker --store--> orders (Store)
                      \\--failed--> dead_letter_store (Store)
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from autocoder import ComposedComponent


class OrderChecker(ComposedComponent):
    """Adds each order's total before its store keeps it."""

    description = "Prices orders (quantity x unit_price) before the store keeps them."
    #: It passes ``describe`` on to the store, so the endpoint serves the store's routes.
    serves_collections = True

    async def process_item(self, item: Any) -> dict[str, Any]:
        if isinstance(item, dict) and item.get("action") in ("create", "replace"):
            order = item["data"]
            # Decimal("two") raises InvalidOperation, a missing field KeyError: on purpose.
            total = Decimal(str(order["quantity"])) * Decimal(str(order["unit_price"]))
            item = {**item, "data": {**order, "total": str(total)}}
        return await self.request("store", item)

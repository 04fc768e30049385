"""Time limits on awaited replies, kept by one task instead of a cancel scope per request.

A cancel scope with a deadline costs more than the rest of an in-process request together, so
``request()`` files its reply slot under the tick at which it times out, and one task per
system wakes every ``RESOLUTION`` seconds to answer the overdue ones with a ``timeout`` error.
A slot that gets its reply leaves its tick at once, so memory holds only pending requests.
A reply times out at most ``RESOLUTION`` seconds after its timeout.
"""

from __future__ import annotations

import math
import time

import anyio

from autocoder.errors import error_reply
from autocoder.runtime.messages import ReplySlot

RESOLUTION = 0.05


class Deadlines:
    """Pending reply slots by the tick at which they time out."""

    def __init__(self, resolution: float = RESOLUTION) -> None:
        self.resolution = resolution
        self._ticks: dict[int, dict[ReplySlot, str]] = {}
        self._done_tick = self._tick(time.monotonic())

    def _tick(self, when: float) -> int:
        return math.ceil(when / self.resolution)

    def add(self, slot: ReplySlot, timeout: float, timeout_message: str) -> None:
        """Answer ``slot`` with a timeout error unless it is answered within ``timeout``."""
        tick = max(self._tick(time.monotonic() + timeout), self._done_tick + 1)
        pending = self._ticks.get(tick)
        if pending is None:
            pending = self._ticks[tick] = {}
        pending[slot] = timeout_message
        slot.pending = pending

    def expire(self, now: float) -> None:
        """Answer every slot whose time is up at ``now``."""
        current = self._tick(now)
        for tick in range(self._done_tick + 1, current + 1):
            pending = self._ticks.pop(tick, None)
            if pending:
                for slot, message in list(pending.items()):
                    slot.pending = None
                    slot.set(error_reply("timeout", message))
        self._done_tick = max(self._done_tick, current)

    async def run(self) -> None:
        """Expire overdue slots until cancelled."""
        while True:
            await anyio.sleep(self.resolution)
            self.expire(time.monotonic())

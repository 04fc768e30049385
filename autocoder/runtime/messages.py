"""What travels over a binding: an action message, and for a request, the slot its reply goes in."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from autocoder.observability.carried import Carried

Message = dict[str, Any]
Reply = dict[str, Any]


class ReplySlot:
    """Where a receiver puts the one reply a caller awaits. The first reply set wins.

    ``fail()`` answers like ``set()`` and also marks that the receiver did not process the
    message (it raised, was cancelled or has failed): a nats binding then leaves the message
    unacknowledged so it is delivered again, where a returned reply, even an error, acks it.
    """

    __slots__ = ("_woken", "failed", "pending", "value")

    def __init__(self) -> None:
        #: The waiting caller's future, made only when it has to wait (most replies of a
        #: memory store are set before anyone waits).
        self._woken: asyncio.Future[None] | None = None
        self.value: Reply | None = None
        self.failed = False
        #: The deadline tick this slot waits in (see ``deadlines.py``), left when answered.
        self.pending: dict[ReplySlot, str] | None = None

    @property
    def answered(self) -> bool:
        return self.value is not None

    def set(self, reply: Reply) -> None:
        if self.value is None:
            self.value = reply
            woken = self._woken
            if woken is not None and not woken.done():
                woken.set_result(None)
            if self.pending is not None:
                self.pending.pop(self, None)
                self.pending = None

    def fail(self, reply: Reply) -> None:
        if self.value is None:
            self.failed = True
            self.set(reply)

    async def wait(self) -> Reply:
        if self.value is None:
            woken = self._woken
            if woken is None or woken.cancelled():  # cancelled with a caller that gave up
                woken = self._woken = asyncio.get_running_loop().create_future()
            await woken
        assert self.value is not None
        return self.value


@dataclass(slots=True)
class Envelope:
    """An item on a binding. ``reply`` is set when the sender awaits an answer.

    ``carried`` is the sending task's request context (its request id, its trace), adopted by
    the worker that processes the item. ``redelivers`` is set by a binding that delivers the
    item again when its processing fails (a nats ``send``): that binding, not the receiver,
    sends the dead letter once it gives up.
    """

    message: Any
    reply: ReplySlot | None = None
    sender: str = field(default="")
    carried: Carried | None = None
    redelivers: bool = False

"""Reply time limits kept by the Deadlines task."""

from __future__ import annotations

import time

import anyio
import pytest

from autocoder.runtime.deadlines import Deadlines
from autocoder.runtime.messages import ReplySlot

pytestmark = pytest.mark.anyio


async def test_an_overdue_slot_gets_a_timeout_reply_and_an_answered_one_is_forgotten() -> None:
    deadlines = Deadlines(resolution=0.01)
    late, answered = ReplySlot(), ReplySlot()
    deadlines.add(late, 0.05, "no reply from store within 0.05s")
    deadlines.add(answered, 0.05, "unused")
    answered.set({"status": "success"})
    assert answered.pending is None

    deadlines.expire(time.monotonic())
    assert late.value is None
    deadlines.expire(time.monotonic() + 0.2)
    assert late.value == {
        "status": "error",
        "message": "no reply from store within 0.05s",
        "error_type": "timeout",
    }
    assert answered.value == {"status": "success"}


async def test_the_running_task_answers_a_waiting_caller() -> None:
    deadlines = Deadlines(resolution=0.01)
    slot = ReplySlot()
    async with anyio.create_task_group() as tg:
        tg.start_soon(deadlines.run)
        deadlines.add(slot, 0.03, "late")
        with anyio.fail_after(2):
            reply = await slot.wait()
        tg.cancel_scope.cancel()
    assert reply["error_type"] == "timeout"

"""What a benchmark's run costs the whole machine in CPU: every process's, the database
servers' and the kernel's, read from Linux's ``/proc/stat``.

A raw driver and a Store that answer the same writes share the machine's cores with the
database server they talk to. When those cores are all busy, neither side can go faster than
the cores allow, whatever it batches: a side's best rate is the cores it could have had over
the CPU each of its writes costs the machine. ``Usage`` adds that up over a side's runs::

    usage = Usage()
    before = snapshot()
    ...  # the run
    usage.add(before, snapshot(), ops)
    usage.cpu_per_op, usage.best_rate, usage.one_core_rate

Steal (time the hypervisor gave to another machine) counts as neither busy nor available:
it is CPU this machine did not have. Elsewhere than on Linux ``snapshot`` is None and a
``Usage`` stays empty.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

_STAT = Path("/proc/stat")
#: Clock ticks a second, the unit of ``/proc/stat`` (USER_HZ: 100 on every Linux build).
_TICKS = 100


class Snapshot(NamedTuple):
    """The machine's CPU time so far, in seconds of one core (spent, and spent or idle),
    this process's own (``time.process_time``: every thread of it), and the time it was
    read at (``time.perf_counter``)."""

    busy: float
    available: float
    own: float
    at: float


def snapshot() -> Snapshot | None:
    """Now, from the first line of ``/proc/stat`` (all cores); None where there is none."""
    try:
        with _STAT.open() as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    # cpu user nice system idle iowait irq softirq steal guest guest_nice
    user, nice, system, idle, iowait, irq, softirq = (int(v) for v in fields[1:8])
    busy = user + nice + system + irq + softirq
    return Snapshot(
        busy / _TICKS, (busy + idle + iowait) / _TICKS, time.process_time(), time.perf_counter()
    )


@dataclass
class Usage:
    """The machine's CPU over one side's runs, and the operations they made."""

    busy: float = 0.0
    available: float = 0.0
    #: This process's part of ``busy``.
    own: float = 0.0
    #: Seconds the runs took.
    wall: float = 0.0
    ops: int = 0

    def add(self, before: Snapshot | None, after: Snapshot | None, ops: int) -> None:
        if before is None or after is None:
            return
        self.busy += after.busy - before.busy
        self.available += after.available - before.available
        self.own += after.own - before.own
        self.wall += after.at - before.at
        self.ops += ops

    @property
    def measured(self) -> bool:
        return self.ops > 0 and self.busy > 0

    @property
    def cpu_per_op(self) -> float:
        """Seconds of the machine's CPU an operation cost."""
        return self.busy / self.ops

    @property
    def own_per_op(self) -> float:
        """Seconds of this process's CPU an operation cost."""
        return self.own / self.ops

    @property
    def one_core_rate(self) -> float:
        """Operations a second this process could make on one core at its CPU per operation:
        the bound of a process whose work runs on one event loop's thread (an SQLite
        connection's thread shares that thread's interpreter lock)."""
        return self.ops / self.own

    @property
    def busy_share(self) -> float:
        """How much of the CPU the machine had was spent during the runs (0 to 1)."""
        return self.busy / self.available

    @property
    def best_rate(self) -> float:
        """Operations a second with every core the machine had spent on them, at this CPU
        per operation: no side can do better on this machine without costing less."""
        return self.ops / self.busy * (self.available / self.wall)

"""The SSE watchers of ``bench_watch``'s HTTP case, run as their own process.

``python -m benchmarks.watch_clients HOST PORT PATH SINCE COUNT`` opens ``COUNT`` connections,
each ``GET PATH?watch=true&since=SINCE`` over a raw socket (HTTP/1.1), prints ``ready`` once
every response has begun, and records for each read from a socket the first and last seq it
brought (the ``id:`` lines) and its ``time.monotonic()`` (CLOCK_MONOTONIC: one clock for every
process of the machine, so the writer's process can subtract its own send times). With no
filter every seq comes, once and in order: each read is checked to carry exactly the seqs
from the previous one's last + 1 to its own last, so a read stands for all of them. A watcher
cut off for lagging (the stream ends after ``: lagged``) watches again from its last seq, as a
client would. When a line arrives on stdin, it prints one JSON line, ``reads`` (``[first,
last, time]`` of every read of every watcher), ``resumed`` (how many times a watcher was cut
off), ``last`` (the last seq each watcher got) and ``bytes`` (every byte read), and exits.

The clients are load generation sharing the machine with the server they measure, so each
connection is an asyncio ``Protocol`` on uvloop: a read is one callback, with no task to wake
and no stream object around it (anyio's streams cost a task wake-up and a checkpoint per
read: about 40 µs of this process's CPU per read, 20 % of a core at SQLite's pace, taken from
the server and the database on a 2-core machine).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import cast

import uvloop


def _seq_at(data: bytes, start: int) -> int:
    return int(data[start + 4 : data.index(b"\n", start)])


class Watchers:
    def __init__(self, host: str, port: int, path: str, count: int) -> None:
        self.host = host
        self.port = port
        self.path = path
        self.count = count
        self.reads: list[tuple[int, int, float]] = []
        self.resumed = 0
        #: Every byte read from every connection, response heads included.
        self.bytes = 0
        self.started = 0
        self.all_started = asyncio.Event()
        #: The first thing that went wrong (the process then exits with it).
        self.failed = asyncio.get_running_loop().create_future()
        #: The last seq each watcher got (the bench checks that every one got every write).
        self.last: list[int] = []
        #: Whether each watcher's first response began (``ready`` once all have).
        self.began = [False] * count
        self.stopping = False
        self.connecting: set[asyncio.Future[None]] = set()

    def fail(self, message: str) -> None:
        if not self.failed.done():
            self.failed.set_result(message)

    def start(self, index: int) -> None:
        """Have watcher ``index`` watch (again) from its last seq."""
        task = asyncio.ensure_future(self.watch(index))
        self.connecting.add(task)
        task.add_done_callback(self.connecting.discard)

    async def watch(self, index: int) -> None:
        """Open watcher ``index``'s connection, from its last seq."""
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: Watch(self, index), self.host, self.port)
        except OSError as exc:
            self.fail(f"cannot connect: {exc}")


class Watch(asyncio.Protocol):
    """One connection of one watcher: everything happens in ``data_received``."""

    def __init__(self, watchers: Watchers, index: int) -> None:
        self.watchers = watchers
        self.index = index
        self.after = watchers.last[index]
        self.head: bytes | None = b""  # until the response head is complete
        self.tail = b""  # the bytes after the last complete event
        self.lagged = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        watchers = self.watchers
        request = (
            f"GET {watchers.path}?watch=true&since={self.after} HTTP/1.1\r\n"
            f"Host: {watchers.host}\r\n\r\n"
        )
        self.transport.write(request.encode())

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        watchers = self.watchers
        watchers.bytes += len(data)
        if self.head is not None:
            head = self.head + data
            if b"\r\n\r\n" not in head:
                self.head = head
                return
            if not head.startswith(b"HTTP/1.1 200"):
                watchers.fail(f"watch refused: {head[:300]!r}")
                return
            self.head = None
            data = head[head.find(b"\r\n\r\n") + 4 :]
            if not watchers.began[self.index]:  # its first response (not a resumed one)
                watchers.began[self.index] = True
                watchers.started += 1
                if watchers.started == watchers.count:
                    watchers.all_started.set()
        if self.tail:
            data = self.tail + data
        end = data.rfind(b"\n\n")  # events end with an empty line
        cut = end + 2 if end >= 0 else 0
        self.tail = data[cut:]
        first = data.find(b"id: ", 0, cut)
        if first >= 0:
            last = data.rfind(b"id: ", 0, cut)
            low, high = _seq_at(data, first), _seq_at(data, last)
            if low != self.after + 1 or data.count(b"id: ", 0, cut) != high - low + 1:
                watchers.fail(f"seqs {low}..{high} after {self.after}: not each once")
                return
            watchers.reads.append((low, high, now))
            self.after = watchers.last[self.index] = high
        # Nothing follows ": lagged" but the end of the response (and HTTP/1.1 keeps the
        # connection open after it): watch again, as a client would.
        if b": lagged" in data:
            self.lagged = True
            watchers.resumed += 1
            assert self.transport is not None
            self.transport.close()
            watchers.start(self.index)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lagged and not self.watchers.stopping:
            self.watchers.fail("a watch ended without being cut off for lagging")


async def main() -> None:
    host, port, path, since, count = sys.argv[1:6]
    watchers = Watchers(host, int(port), path, int(count))
    watchers.last = [int(since)] * watchers.count
    for index in range(watchers.count):
        watchers.start(index)
    loop = asyncio.get_running_loop()
    # An error in a callback fails the run (the loop would only log it).
    loop.set_exception_handler(lambda _, context: watchers.fail(repr(context)))
    started = asyncio.ensure_future(watchers.all_started.wait())
    await asyncio.wait([started, watchers.failed], return_when=asyncio.FIRST_COMPLETED)
    if watchers.failed.done():
        raise RuntimeError(watchers.failed.result())
    print("ready", flush=True)
    stop = loop.run_in_executor(None, sys.stdin.readline)
    await asyncio.wait([stop, watchers.failed], return_when=asyncio.FIRST_COMPLETED)
    if watchers.failed.done():
        raise RuntimeError(watchers.failed.result())
    watchers.stopping = True
    result = {
        "reads": watchers.reads,
        "resumed": watchers.resumed,
        "last": watchers.last,
        "bytes": watchers.bytes,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    uvloop.run(main())

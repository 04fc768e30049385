"""The SSE watchers of ``bench_watch``'s HTTP case, run as their own process.

``python -m benchmarks.watch_clients HOST PORT PATH SINCE COUNT`` opens ``COUNT`` connections,
each ``GET PATH?watch=true&since=SINCE`` over a raw socket (HTTP/1.1), prints ``ready`` once
every response has begun, and records for each read from a socket the first and last seq it
brought (the ``id:`` lines) and its ``time.monotonic()`` (CLOCK_MONOTONIC: one clock for every
process of the machine, so the writer's process can subtract its own send times). With no
filter every seq comes, once and in order: each read is checked to carry exactly the seqs
from the previous one's last + 1 to its own last, so a read stands for all of them and the
clients cost little CPU beside the server. A watcher cut off for lagging (the stream ends after
``: lagged``) watches again from its last seq, as a client would. When a line arrives on stdin,
it prints one JSON line, ``reads`` (``[first, last, time]`` of every read of every watcher),
``resumed`` (how many times a watcher was cut off) and ``last`` (the last seq each watcher
got), and exits.
"""

from __future__ import annotations

import json
import sys
import time

import anyio
import anyio.to_thread

#: Bytes read from a socket at once (a round of a fast writer's events is larger than 64 KiB).
_READ = 1 << 20


def _seq_at(data: bytes, start: int) -> int:
    return int(data[start + 4 : data.index(b"\n", start)])


class Watchers:
    def __init__(self, host: str, port: int, path: str) -> None:
        self.host = host
        self.port = port
        self.path = path
        self.reads: list[tuple[int, int, float]] = []
        self.resumed = 0
        self.started = 0
        self.all_started = anyio.Event()
        self.count = 0
        #: The last seq each watcher got (the bench checks that every one got every write).
        self.last: list[int] = []

    async def watch(self, since: int) -> None:
        index = len(self.last)
        self.last.append(since)
        after, first = since, True
        while True:
            async with await anyio.connect_tcp(self.host, self.port) as stream:
                request = (
                    f"GET {self.path}?watch=true&since={after} HTTP/1.1\r\n"
                    f"Host: {self.host}\r\n\r\n"
                )
                await stream.send(request.encode())
                head = await stream.receive()
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"watch refused: {head[:300]!r}")
                if first:
                    first = False
                    self.started += 1
                    if self.started == self.count:
                        self.all_started.set()
                tail, lagged = head[head.find(b"\r\n\r\n") + 4 :], False
                while not lagged:
                    try:
                        data = await stream.receive(_READ)
                    except anyio.EndOfStream:
                        ended = "a watch ended without being cut off for lagging"
                        raise RuntimeError(ended) from None
                    now = time.monotonic()
                    data = tail + data if tail else data
                    end = data.rfind(b"\n\n")  # events end with an empty line
                    cut = end + 2 if end >= 0 else 0
                    tail = data[cut:]
                    first = data.find(b"id: ", 0, cut)
                    if first >= 0:
                        last = data.rfind(b"id: ", 0, cut)
                        low, high = _seq_at(data, first), _seq_at(data, last)
                        if low != after + 1 or data.count(b"id: ", 0, cut) != high - low + 1:
                            raise RuntimeError(f"seqs {low}..{high} after {after}: not each once")
                        self.reads.append((low, high, now))
                        after = self.last[index] = high
                    # Nothing follows ": lagged" but the end of the response (and HTTP/1.1
                    # keeps the connection open after it): watch again, as a client would.
                    lagged = b": lagged" in data
                self.resumed += 1


async def main() -> None:
    host, port, path, since, count = sys.argv[1:6]
    watchers = Watchers(host, int(port), path)
    watchers.count = int(count)
    async with anyio.create_task_group() as tg:
        for _ in range(watchers.count):
            tg.start_soon(watchers.watch, int(since))
        await watchers.all_started.wait()
        print("ready", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)
        tg.cancel_scope.cancel()
    result = {"reads": watchers.reads, "resumed": watchers.resumed, "last": watchers.last}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    anyio.run(main, backend_options={"use_uvloop": True})

"""What moving bytes through loopback TCP costs the sender on this machine: the floor under
``bench_watch``'s HTTP case, measured in the same run.

``python -m benchmarks.loopback_floor SECONDS`` forks a reader with 100 connections to this
process, writes 64 KiB chunks into all of them for ``SECONDS`` (plain non-blocking sockets and
``epoll``: no event loop, no HTTP, next to no Python per byte) and prints one number, the
sender's CPU seconds (user and system, ``getrusage``) per byte sent. Every byte a change feed
hands to a watcher costs at least that much of its event loop's time, whatever the server
above the socket does: the kernel copies it and, on loopback, runs the receiving side's TCP
work in the sender's context too.
"""

from __future__ import annotations

import os
import resource
import select
import socket
import sys
import time
from contextlib import suppress

CONNECTIONS = 100
CHUNK = b"x" * 65536


def _polled(
    sockets: list[socket.socket], events: int
) -> tuple[select.epoll, dict[int, socket.socket]]:
    """``sockets`` made non-blocking and registered for ``events``; the poll, and each socket
    by its file descriptor."""
    poll = select.epoll()
    by_fd = {}
    for sock in sockets:
        sock.setblocking(False)
        poll.register(sock.fileno(), events)
        by_fd[sock.fileno()] = sock
    return poll, by_fd


def _read_all(port: int) -> None:
    """The reader: connect ``CONNECTIONS`` times and read until every connection ends."""
    connections = [socket.create_connection(("127.0.0.1", port)) for _ in range(CONNECTIONS)]
    poll, by_fd = _polled(connections, select.EPOLLIN)
    buffer = bytearray(1 << 20)
    while by_fd:
        for fd, _ in poll.poll():
            with suppress(BlockingIOError):
                if not by_fd[fd].recv_into(buffer):  # the sender closed it
                    poll.unregister(fd)
                    by_fd.pop(fd).close()


def sender_cpu_per_byte(seconds: float) -> float:
    """Write into ``CONNECTIONS`` loopback sockets for ``seconds``; CPU seconds per byte."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=CONNECTIONS)
    port = listener.getsockname()[1]
    reader = os.fork()
    if reader == 0:
        try:
            _read_all(port)
        finally:
            os._exit(0)
    sockets = [listener.accept()[0] for _ in range(CONNECTIONS)]
    poll, by_fd = _polled(sockets, select.EPOLLOUT)
    sent = 0
    before = resource.getrusage(resource.RUSAGE_SELF)
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        for fd, _ in poll.poll():
            with suppress(BlockingIOError):  # the socket's buffer filled since the poll
                sent += by_fd[fd].send(CHUNK)
    after = resource.getrusage(resource.RUSAGE_SELF)
    for sock in sockets:
        sock.close()
    os.waitpid(reader, 0)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return cpu / sent


if __name__ == "__main__":
    print(sender_cpu_per_byte(float(sys.argv[1])))

"""``autocoder run --workers 2`` beside ``--workers 1``: the database blueprint on PostgreSQL.

Run with ``make bench`` (or ``python -m benchmarks workers``). Both servers run
``blueprints/database.yaml`` (FastAPIEndpoint → database Store → PostgreSQL, one table of
``RECORDS`` records) at once, each on its own ports; ``wrk`` alternates between them like
``bench_http`` (same settings, best of ``BENCH_HTTP_ROUNDS``):

- ``GET /{table}/{id}`` over the records;
- ``POST /{table}`` (a create per request).

It prints requests/s, p99 and server CPU per request (the supervisor and all its workers) of
both, and the ratio ``--workers 2`` / ``--workers 1``. The machine's cores are shared by the
workers, wrk and PostgreSQL, so the ratio says how much of a second core the second worker
turns into throughput here; it is not a target.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sys
import tempfile
import uuid
from pathlib import Path

import httpx

from benchmarks.bench_http import (
    CONNECTIONS,
    GET_LUA,
    POST_LUA,
    POSTGRESQL_URL,
    REPO,
    ROUNDS,
    SECONDS,
    Result,
    Server,
    drop_table,
    free_port,
    measure,
    server,
    wrk,
)

RECORDS = 1000
BLUEPRINT = REPO / "blueprints" / "database.yaml"


class Supervised(Server):
    """A server process and its children (the workers): CPU time of them all."""

    def cpu_seconds(self) -> float:
        total = 0.0
        for pid in [self.pid, *_children(self.pid)]:
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                total += Server(self.url, pid).cpu_seconds()
        return total


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    with contextlib.suppress(FileNotFoundError):
        return [int(child) for child in path.read_text().split()]
    return []


def two_free_ports_in_a_row() -> int:
    """``p`` with ``p`` and ``p + 1`` free: the metrics ports of two workers."""
    while True:
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def report(title: str, one: Result, two: Result) -> None:
    print(title)
    for label, result in (("--workers 1", one), ("--workers 2", two)):
        errors = f", {result.errors} errors" if result.errors else ""
        print(
            f"  {label:<12} {result.requests_per_second:>7.0f} req/s"
            f"   p99 {result.p99_ms:6.1f} ms"
            f"   server CPU {result.cpu_us_per_request:5.0f} µs/request{errors}"
        )
    ratio = two.requests_per_second / one.requests_per_second
    print(f"  ratio --workers 2 / --workers 1: {ratio:.2f} by requests/s", flush=True)


def best_of(
    wrk_path: str, one: Server, two: Server, script: Path, path: str = ""
) -> tuple[Result, Result]:
    """Alternate wrk runs on both; the best of ``ROUNDS`` each (the least disturbed)."""
    ones, twos = [], []
    for _ in range(ROUNDS):
        ones.append(measure(wrk_path, one, script, path))
        twos.append(measure(wrk_path, two, script, path))

    def best(results: list[Result]) -> Result:
        return max(results, key=lambda r: r.requests_per_second)

    return best(ones), best(twos)


def main() -> None:
    wrk_path = shutil.which("wrk")
    if wrk_path is None:
        print("bench_workers: wrk is not installed (apt-get install -y wrk); not measured")
        return
    table = f"bench_workers_{uuid.uuid4().hex[:12]}"
    print(
        f"blueprints/database.yaml on PostgreSQL, --workers 1 beside --workers 2; "
        f"wrk -t1 -c{CONNECTIONS} -d{SECONDS}s, alternating, best of {ROUNDS}; "
        f"{os.cpu_count()} cores"
    )
    try:
        with tempfile.TemporaryDirectory() as name, contextlib.ExitStack() as stack:
            tmp = Path(name)
            servers = []
            for workers in (1, 2):
                port = free_port()
                env = {
                    "API_PORT": str(port),
                    "METRICS_PORT": str(two_free_ports_in_a_row()),
                    "DATABASE_URL": POSTGRESQL_URL,
                    "TABLE_NAME": table,
                }
                command = [
                    sys.executable, "-m", "autocoder", "run", str(BLUEPRINT),
                    "--workers", str(workers), "--log-level", "warning",
                ]  # fmt: skip
                try:
                    started = stack.enter_context(server(command, port, "/ready", env))
                except RuntimeError as exc:
                    print(f"bench_workers: skipped, the blueprint did not start ({exc})")
                    return
                servers.append(Supervised(started.url, started.pid))
            one, two = servers
            with httpx.Client(base_url=one.url) as client:
                for n in range(1, RECORDS + 1):
                    body = {"id": str(n), "title": "benchmark task", "completed": False}
                    client.post(f"/{table}", json=body).raise_for_status()
            get_script = tmp / "get.lua"
            get_script.write_text(
                GET_LUA.replace("{records}", str(RECORDS)).replace("{prefix}", f"/{table}/")
            )
            post_script = tmp / "post.lua"
            post_script.write_text(POST_LUA)
            for target in (one, two):  # warm-up
                wrk(wrk_path, target.url, get_script, 1)
            get = best_of(wrk_path, one, two, get_script)
            post = best_of(wrk_path, one, two, post_script, f"/{table}")
        report(f"GET /{{table}}/{{id}} (PostgreSQL, {RECORDS} records)", *get)
        report("POST /{table} (PostgreSQL)", *post)
    finally:
        drop_table(table)

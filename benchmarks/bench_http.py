"""HTTP requests per second: FastAPIEndpoint → Store beside a plain FastAPI app doing the same.

Run with ``make bench`` (or ``python -m benchmarks http``). Each server runs in its own process
with the same uvicorn settings (``autocoder.http.server.uvicorn_config``: httptools, uvloop);
``wrk`` (another process) drives it with the same settings, in the same run:

- memory: ``POST /tasks`` (a Lua script sends the body), then ``GET /tasks/{id}`` over 1,000
  ids, through ``autocoder run`` (FastAPIEndpoint → memory Store) and through a plain FastAPI
  app on a dict;
- PostgreSQL: ``GET /{table}/{id}`` through FastAPIEndpoint → database Store and through a
  plain FastAPI app reading the same table with asyncpg (same pool size as the Store's); then
  ``POST /{table}``, the Store on its defaults (group commit on: concurrent creates share a
  commit) beside the plain app doing one autocommit ``INSERT`` per request, same pool.

autocoder runs at its default log level with its access log on (a JSON line per request,
written to a file); the plain app logs nothing.

It prints requests/s, p99 latency and the ratio autocoder / plain (target: at least 1.0, with the
access log on).
Both servers of a comparison run at once and wrk alternates between them, ``BENCH_HTTP_ROUNDS``
times (default 2); the best run of each counts, the one least disturbed by other load.
Environment: ``BENCH_HTTP_SECONDS`` (default 5), ``BENCH_HTTP_CONNECTIONS`` (default 32),
``BENCH_POSTGRESQL_URL`` (default this machine's server).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
SECONDS = int(os.environ.get("BENCH_HTTP_SECONDS", "5"))
CONNECTIONS = int(os.environ.get("BENCH_HTTP_CONNECTIONS", "32"))
ROUNDS = int(os.environ.get("BENCH_HTTP_ROUNDS", "2"))
POSTGRESQL_URL = os.environ.get("BENCH_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/test")
RECORDS = 1000
POOL_SIZE = 4  # the database Store's default pool: the plain app gets the same

POST_LUA = """
wrk.method = "POST"
wrk.body = '{"title": "benchmark task", "completed": false, "priority": 3}'
wrk.headers["Content-Type"] = "application/json"
"""

GET_LUA = """
local records = {records}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "{prefix}" .. ((n % records) + 1))
end
"""

MEMORY_BLUEPRINT = """
system:
  name: bench_http_memory
  components:
    - {{name: api, type: FastAPIEndpoint, config: {{port: {port}}}}}
    - {{name: store, type: Store, config: {{storage_type: memory}}}}
  bindings:
    - {{from_component: api, to_component: store, stream_name: input}}
"""

DATABASE_BLUEPRINT = """
system:
  name: bench_http_postgresql
  components:
    - {{name: api, type: FastAPIEndpoint, config: {{port: {port}}}}}
    - name: store
      type: Store
      config: {{storage_type: database, database_url: "{url}", table_name: {table}}}
  bindings:
    - {{from_component: api, to_component: store, stream_name: input}}
"""


@dataclass
class Result:
    requests_per_second: float
    p99_ms: float
    errors: int
    requests: int
    cpu_us_per_request: float = float("nan")


@dataclass
class Server:
    """A server process under test."""

    url: str
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used (robust to other load on the machine)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def server(
    command: list[str], port: int, probe: str, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """Run ``command`` (a server on ``port``, ``env`` added to its environment) until the
    block ends.

    Its log goes to a file, as a service's does: autocoder writes its access log there (one
    JSON line per request), so the figures include that cost.
    """
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"server exited: {log.read().decode()[-2000:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + probe, timeout=2).status_code < 500:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"server on {url} did not come up")
            time.sleep(0.1)
        yield Server(url, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def wrk(wrk_path: str, url: str, script: Path, seconds: int = SECONDS) -> Result:
    """Run wrk against ``url`` with ``script``; its requests/s, p99 and error count."""
    output = subprocess.run(
        [
            wrk_path,
            "-t1",
            f"-c{CONNECTIONS}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", output)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    p99_ms = float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*?timeout (\d+)", output)
    failed = (int(bad.group(1)) if bad else 0) + (int(errors.group(1)) if errors else 0)
    return Result(rate, p99_ms, failed, total)


def measure(wrk_path: str, target: Server, script: Path, path: str = "") -> Result:
    """One wrk run against ``target``, with the server's CPU time per request."""
    before = target.cpu_seconds()
    result = wrk(wrk_path, target.url + path, script)
    spent = target.cpu_seconds() - before
    result.cpu_us_per_request = spent / max(1, result.requests) * 1e6
    return result


def autocoder_command(blueprint: Path) -> list[str]:
    # The default level (info) with JSON lines: the access log is on, as in production.
    return [sys.executable, "-m", "autocoder", "run", str(blueprint), "--log-format", "json"]


def plain_command(kind: str, port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "benchmarks.bench_http", "--serve-plain", kind, str(port), *extra]


def report(title: str, ours: Result, plain: Result) -> None:
    ratio = ours.requests_per_second / plain.requests_per_second
    cpu_ratio = plain.cpu_us_per_request / ours.cpu_us_per_request
    verdict = "ok" if ratio >= 1.0 else "BELOW TARGET 1.0"
    print(f"{title}")
    for label, result in (("FastAPIEndpoint → Store", ours), ("plain FastAPI", plain)):
        errors = f", {result.errors} errors" if result.errors else ""
        print(
            f"  {label:<24} {result.requests_per_second:>7.0f} req/s"
            f"   p99 {result.p99_ms:6.1f} ms"
            f"   server CPU {result.cpu_us_per_request:5.0f} µs/request{errors}"
        )
    print(
        f"  ratio {ratio:.2f} by requests/s ({verdict}); {cpu_ratio:.2f} by server CPU per request",
        flush=True,
    )


def compare(
    wrk_path: str, ours_server: Server, plain_server: Server, script: Path, path: str = ""
) -> tuple[Result, Result]:
    """Alternate wrk runs on both servers; the best of ``ROUNDS`` each (least disturbed)."""
    ours: list[Result] = []
    plain: list[Result] = []
    for _ in range(ROUNDS):
        ours.append(measure(wrk_path, ours_server, script, path))
        plain.append(measure(wrk_path, plain_server, script, path))

    def best(results: list[Result]) -> Result:
        return max(results, key=lambda r: r.requests_per_second)

    return best(ours), best(plain)


def bench_memory(wrk_path: str, scripts: Path, tmp: Path) -> None:
    ours_port, plain_port = free_port(), free_port()
    blueprint = tmp / "memory.yaml"
    blueprint.write_text(MEMORY_BLUEPRINT.format(port=ours_port))
    with (
        server(autocoder_command(blueprint), ours_port, "/ready") as ours,
        server(plain_command("memory", plain_port), plain_port, "/tasks/0") as plain,
    ):
        for target in (ours, plain):  # warm-up; creates the ids 1..N the GETs read
            wrk(wrk_path, target.url + "/tasks", scripts / "post.lua", 1)
        post = compare(wrk_path, ours, plain, scripts / "post.lua", "/tasks")
        get = compare(wrk_path, ours, plain, scripts / "get_tasks.lua")
    report("POST /tasks (memory)", *post)
    report("GET /tasks/{id} (memory)", *get)


def bench_postgresql(wrk_path: str, scripts: Path, tmp: Path) -> None:
    table = f"bench_http_{uuid.uuid4().hex[:12]}"
    ours_port, plain_port = free_port(), free_port()
    blueprint = tmp / "database.yaml"
    blueprint.write_text(DATABASE_BLUEPRINT.format(port=ours_port, url=POSTGRESQL_URL, table=table))
    get_script = scripts / "get_table.lua"
    get_script.write_text(
        GET_LUA.replace("{records}", str(RECORDS)).replace("{prefix}", f"/{table}/")
    )
    try:
        with contextlib.ExitStack() as stack:
            try:
                ours = stack.enter_context(
                    server(autocoder_command(blueprint), ours_port, "/ready")
                )
            except RuntimeError as exc:
                print(f"GET by id (PostgreSQL): skipped, the store did not start ({exc})")
                return
            with httpx.Client(base_url=ours.url) as client:
                for n in range(1, RECORDS + 1):
                    body = {"id": str(n), "title": "benchmark task", "completed": False}
                    client.post(f"/{table}", json=body).raise_for_status()
            command = plain_command("postgresql", plain_port, POSTGRESQL_URL, table)
            plain = stack.enter_context(server(command, plain_port, f"/{table}/1"))
            for target in (ours, plain):
                wrk(wrk_path, target.url, get_script, 1)
            results = compare(wrk_path, ours, plain, get_script)
            for target in (ours, plain):
                wrk(wrk_path, target.url + f"/{table}", scripts / "post.lua", 1)
            posts = compare(wrk_path, ours, plain, scripts / "post.lua", f"/{table}")
        report(f"GET /{{table}}/{{id}} (PostgreSQL, pool of {POOL_SIZE})", *results)
        report(
            f"POST /{{table}} (PostgreSQL, pool of {POOL_SIZE}; the Store on its defaults, "
            "group commit on; plain: one INSERT per request)",
            *posts,
        )
    finally:
        drop_table(table)


def drop_table(table: str) -> None:
    """Drop a benchmark's PostgreSQL table; a server that is gone leaves nothing to drop."""
    import asyncio

    import asyncpg

    async def drop() -> None:
        connection = await asyncpg.connect(POSTGRESQL_URL)
        try:
            await connection.execute(f'DROP TABLE IF EXISTS "{table}"')
            # Its seq counter and change history (docs/change-feeds.md), when they exist.
            for forget in (
                "DELETE FROM autocoder_changes WHERE collection = $1",
                "DELETE FROM autocoder_changes_seq WHERE collection = $1",
            ):
                with contextlib.suppress(asyncpg.UndefinedTableError):
                    await connection.execute(forget, table)
        finally:
            await connection.close()

    with contextlib.suppress(OSError, asyncpg.PostgresError):
        asyncio.run(drop())


def main() -> None:
    wrk_path = shutil.which("wrk")
    if wrk_path is None:
        print(
            "bench_http: wrk is not installed, so HTTP throughput cannot be measured "
            "(httpx cannot generate the load). Install it: apt-get install -y wrk"
        )
        return
    print(
        f"wrk -t1 -c{CONNECTIONS} -d{SECONDS}s; each server in its own process "
        f"(uvicorn, httptools, uvloop); wrk alternates between them, best of {ROUNDS}"
    )
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        (tmp / "post.lua").write_text(POST_LUA)
        (tmp / "get_tasks.lua").write_text(
            GET_LUA.replace("{records}", str(RECORDS)).replace("{prefix}", "/tasks/")
        )
        bench_memory(wrk_path, tmp, tmp)
        bench_postgresql(wrk_path, tmp, tmp)


# -- the plain FastAPI baselines (run in their own process) -------------------------------


def plain_memory_app() -> Any:
    """A minimal FastAPI app storing tasks in a dict, as one would write it by hand."""
    from fastapi import Body, FastAPI, HTTPException

    app = FastAPI()
    records: dict[str, dict[str, Any]] = {}
    ids = itertools.count(1)

    @app.post("/tasks", status_code=201)
    async def create(body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        record_id = str(next(ids))
        record = {**body, "id": record_id}
        records[record_id] = record
        return {"status": "success", "id": record_id, "data": record, "version": 1}

    @app.get("/tasks/{record_id}")
    async def get(record_id: str) -> dict[str, Any]:
        record = records.get(record_id)
        if record is None:
            raise HTTPException(404)
        return {"status": "success", "data": record, "version": 1}

    return app


def plain_postgresql_app(url: str, table: str) -> Any:
    """A minimal FastAPI app reading the Store's table with an asyncpg pool."""
    import asyncpg
    from fastapi import Body, FastAPI, HTTPException

    pool: dict[str, Any] = {}
    app = FastAPI()
    query = f"SELECT data, version FROM \"{table}\" WHERE tenant = '' AND id = $1"
    # One autocommit INSERT per request, the id from the table's own sequence (as the Store's).
    insert = (
        f"INSERT INTO \"{table}\" (tenant, id, data, version, seq) SELECT '', n::text, "
        f"$1::jsonb, 1, n FROM (SELECT nextval(pg_get_serial_sequence('\"{table}\"', 'seq'))"
        " AS n) AS s RETURNING id"
    )

    async def connections() -> Any:
        if "pool" not in pool:
            pool["pool"] = await asyncpg.create_pool(url, min_size=POOL_SIZE, max_size=POOL_SIZE)
        return pool["pool"]

    @app.post(f"/{table}", status_code=201)
    async def create(body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        async with (await connections()).acquire() as connection:
            record_id = await connection.fetchval(insert, json.dumps(body))
        return {
            "status": "success",
            "id": record_id,
            "data": {**body, "id": record_id},
            "version": 1,
        }

    @app.get(f"/{table}/{{record_id}}")
    async def get(record_id: str) -> dict[str, Any]:
        async with (await connections()).acquire() as connection:
            row = await connection.fetchrow(query, record_id)
        if row is None:
            raise HTTPException(404)
        data = json.loads(row["data"])
        data["id"] = record_id
        return {"status": "success", "data": data, "version": row["version"]}

    return app


def serve_plain(argv: list[str]) -> None:
    """``--serve-plain memory PORT`` or ``--serve-plain postgresql PORT URL TABLE``."""
    import anyio

    from autocoder.http.server import InLoopServer, bind_socket, uvicorn_config

    kind, port = argv[0], int(argv[1])
    app = plain_memory_app() if kind == "memory" else plain_postgresql_app(argv[2], argv[3])
    sock = bind_socket("127.0.0.1", port)

    async def run() -> None:
        await InLoopServer(uvicorn_config(app)).serve(sockets=[sock])

    anyio.run(run, backend_options={"use_uvloop": True})


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve-plain"]:
        serve_plain(sys.argv[2:])
    else:
        main()

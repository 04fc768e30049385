"""Reloading a running ``autocoder run`` (SIGHUP, ``--watch``): what changes, what is kept.

Every test runs the command as a process and talks to it over real HTTP; reloads are asked
for as an operator asks (a signal, or a write of the file) and seen in its JSON log.
"""

from __future__ import annotations

import contextlib
import functools
import re
import signal
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.processes import REPO, start
from tests.e2e.test_workers import workers_of
from tests.http.support import free_port, free_ports_in_a_row

# Every process runs on each event loop of the tests (see tests/conftest.py).
pytestmark = pytest.mark.usefixtures("anyio_backend")


def reloads_counted(metrics_port: int) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    found = re.findall(r'^autocoder_reloads_total\{result="(\w+)"\} (\S+)$', text, re.M)
    return {result: float(value) for result, value in found}


def titles(api: str) -> list[str]:
    reply = httpx.get(f"{api}/notes", params={"limit": 1000}, timeout=10)
    assert reply.status_code == 200, reply.text
    return sorted(record["title"] for record in reply.json()["data"])


def refused(url: str) -> bool:
    try:
        httpx.get(url, timeout=5)
    except httpx.ConnectError:
        return True
    return False


def wait_until(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds}s"
        time.sleep(0.01)


def at_least(items: list[int], count: int) -> bool:
    return len(items) >= count


def notes_system(*endpoints: tuple[str, int], metrics: int, store_config: str = "") -> str:
    """A memory Store of notes, an endpoint per (name, port) bound to it on one stream."""
    components = "".join(
        f"""
    - name: {name}
      type: FastAPIEndpoint
      config: {{port: {port}}}"""
        for name, port in endpoints
    )
    bindings = "".join(
        f"""
    - {{from_component: {name}, to_component: notes, stream_name: requests}}"""
        for name, _ in endpoints
    )
    return f"""\
system:
  name: reloading
  shutdown_timeout: 5
  components:
    - name: notes
      type: Store
      config: {{storage_type: memory, table_name: notes{store_config}}}{components}
    - name: metrics
      type: MetricsEndpoint
      config: {{port: {metrics}}}
  bindings:{bindings}
"""


def test_sighup_adding_an_endpoint_keeps_the_memory_stores_records(tmp_path: Path) -> None:
    api, second, metrics = free_port(), free_port(), free_port()
    path = tmp_path / "notes.yaml"
    path.write_text(notes_system(("api", api), metrics=metrics))
    run = start(path, tmp_path, api)
    try:
        run.ready()
        for title in ("one", "two"):
            assert httpx.post(f"{run.api}/notes", json={"title": title}).status_code == 201

        path.write_text(notes_system(("api", api), ("second_api", second), metrics=metrics))
        run.process.send_signal(signal.SIGHUP)
        [reloaded] = run.wait_for("reloaded")

        assert (reloaded["by"], reloaded["added"]) == ("SIGHUP", ["second_api"])
        assert (reloaded["changed"], reloaded["removed"]) == ([], [])
        # The new endpoint serves the store as it is: the records written before the reload.
        assert titles(f"http://127.0.0.1:{second}") == ["one", "two"]
        assert titles(run.api) == ["one", "two"]
        assert reloads_counted(metrics) == {"success": 1.0, "failure": 0.0}
        assert run.stop() == 0, run.err[-3000:]
    finally:
        run.kill()
    # Kept components were not set up again: each logged "serving" once.
    served = Counter(e["component"] for e in run.events if e.get("event") == "serving")
    assert served == {"api": 1, "metrics": 1, "second_api": 1}


def test_a_changed_component_is_replaced_an_unchanged_one_untouched_a_new_port_bound(
    tmp_path: Path,
) -> None:
    api, todo_api, moved, metrics = free_port(), free_port(), free_port(), free_port()

    def blueprint(todo_api_port: int, todo_config: str) -> str:
        return f"""\
system:
  name: reloading
  shutdown_timeout: 5
  components:
    - name: notes
      type: Store
      config: {{storage_type: memory, table_name: notes}}
    - name: api
      type: FastAPIEndpoint
      config: {{port: {api}}}
    - name: todo
      type: Store
      config: {{storage_type: memory, table_name: notes{todo_config}}}
    - name: todo_api
      type: FastAPIEndpoint
      config: {{port: {todo_api_port}}}
    - name: metrics
      type: MetricsEndpoint
      config: {{port: {metrics}}}
  bindings:
    - {{from_component: api, to_component: notes, stream_name: requests}}
    - {{from_component: todo_api, to_component: todo, stream_name: requests}}
"""

    path = tmp_path / "two.yaml"
    path.write_text(blueprint(todo_api, ""))
    run = start(path, tmp_path, api)
    try:
        run.ready()
        assert httpx.post(f"{run.api}/notes", json={"title": "kept"}).status_code == 201
        old_todo = f"http://127.0.0.1:{todo_api}"
        assert httpx.post(f"{old_todo}/notes", json={"title": "dropped"}).status_code == 201

        # The todo store's config changes, and its endpoint moves to another port.
        path.write_text(blueprint(moved, ", command_timeout: 20"))
        run.process.send_signal(signal.SIGHUP)
        [reloaded] = run.wait_for("reloaded")

        assert reloaded["changed"] == ["todo", "todo_api"]
        assert (reloaded["added"], reloaded["removed"]) == ([], [])
        assert titles(run.api) == ["kept"]  # untouched: the same store, its records
        assert titles(f"http://127.0.0.1:{moved}") == []  # replaced: a new memory store
        assert refused(f"{old_todo}/health")  # the old port is closed
        assert run.stop() == 0, run.err[-3000:]
    finally:
        run.kill()
    served = Counter(e["component"] for e in run.events if e.get("event") == "serving")
    assert served == {"api": 1, "metrics": 1, "todo_api": 2}


def test_a_broken_file_changes_nothing_and_watch_picks_up_the_fixed_one(tmp_path: Path) -> None:
    api, second, metrics = free_port(), free_port(), free_port()
    path = tmp_path / "notes.yaml"
    path.write_text(notes_system(("api", api), metrics=metrics))
    # The file as the command line names it, relative to the working directory.
    run = start(Path("notes.yaml"), tmp_path, api, "--watch")
    try:
        run.ready()
        assert httpx.post(f"{run.api}/notes", json={"title": "safe"}).status_code == 201

        broken = notes_system(
            ("api", api), ("second_api", second), metrics=metrics, store_config=", colour: red"
        )
        path.write_text(broken)
        [failed] = run.wait_for("reload_failed")

        line = next(n for n, text in enumerate(broken.splitlines(), 1) if "colour" in text)
        column = broken.splitlines()[line - 1].index("colour") + 1
        assert failed["by"] == "watch"
        [problem] = failed["problems"]
        assert problem.startswith(f"notes.yaml:{line}:{column}: error: ")
        assert "unknown key 'colour'" in problem
        # Nothing changed: the same store and endpoint; no new one.
        assert titles(run.api) == ["safe"]
        assert refused(f"http://127.0.0.1:{second}/health")
        assert reloads_counted(metrics) == {"success": 0.0, "failure": 1.0}

        path.write_text(notes_system(("api", api), ("second_api", second), metrics=metrics))
        [reloaded] = run.wait_for("reloaded")

        assert (reloaded["by"], reloaded["added"]) == ("watch", ["second_api"])
        assert titles(f"http://127.0.0.1:{second}") == ["safe"]
        assert reloads_counted(metrics) == {"success": 1.0, "failure": 1.0}
        assert run.stop() == 0, run.err[-3000:]
    finally:
        run.kill()


def test_every_request_of_a_burst_during_reloads_gets_a_reply_and_no_write_is_lost(
    tmp_path: Path,
) -> None:
    """Each reload replaces the SQLite store and the endpoint in front of it (their configs
    change) while clients write, on new connections and on kept-alive ones."""
    api = free_port()
    database = tmp_path / "burst.db"

    def blueprint(generation: int) -> str:
        return f"""\
system:
  name: bursting
  shutdown_timeout: 10
  components:
    - name: notes
      type: Store
      config:
        storage_type: database
        database_url: "sqlite:///{database}"
        table_name: notes
        command_timeout: {5 + generation}
    - name: api
      type: FastAPIEndpoint
      config: {{port: {api}, request_timeout: {10 + generation}, access_log: false}}
  bindings:
    - {{from_component: api, to_component: notes, stream_name: requests}}
"""

    path = tmp_path / "burst.yaml"
    path.write_text(blueprint(0))
    run = start(path, tmp_path, api)
    statuses: list[int] = []
    failures: list[str] = []
    done = threading.Event()

    def write(fresh_connections: bool) -> None:
        keep_alive = 0 if fresh_connections else 20
        limits = httpx.Limits(max_keepalive_connections=keep_alive)
        with httpx.Client(base_url=run.api, timeout=30, limits=limits) as client:
            while not done.is_set():
                try:
                    reply = client.post("/notes", json={"title": f"n{len(statuses)}"})
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                if reply.status_code == 503:
                    assert "retry-after" in reply.headers
                statuses.append(reply.status_code)

    try:
        run.ready()
        writers = [threading.Thread(target=write, args=(n % 2 == 0,)) for n in range(6)]
        for writer in writers:
            writer.start()
        try:
            for generation in (1, 2, 3):
                wait_until(functools.partial(at_least, statuses, 60 * generation))
                path.write_text(blueprint(generation))
                run.process.send_signal(signal.SIGHUP)
                run.wait_for("reloaded", count=generation)
            wait_until(functools.partial(at_least, statuses, 60 * 4))  # and traffic after
        finally:
            done.set()
            for writer in writers:
                writer.join()

        reloads = run.wait_for("reloaded", count=3)
        assert all(r["changed"] == ["notes", "api"] for r in reloads)
        assert failures == []
        assert set(statuses) <= {201, 503}
        created = statuses.count(201)
        assert created > 0
        print(f"{created} created, {statuses.count(503)} answered 503")
        assert run.stop() == 0, run.err[-3000:]
        assert not [e for e in run.events if e.get("event") == "drain_timed_out"]
        with contextlib.closing(sqlite3.connect(database)) as db:
            assert db.execute("SELECT COUNT(*) FROM notes").fetchone() == (created,)
    finally:
        done.set()
        run.kill()


def test_a_change_or_sighup_seen_by_the_parent_of_workers_reloads_each_worker(
    tmp_path: Path,
) -> None:
    api, second, metrics = free_port(), free_port(), free_ports_in_a_row(2)
    path = tmp_path / "default.yaml"
    default = (REPO / "blueprints" / "default.yaml").read_text()
    path.write_text(default)
    run = start(
        path, tmp_path, api, "--workers", "2", "--watch", env={"METRICS_PORT": str(metrics)}
    )
    try:
        run.ready()
        pids = workers_of(run)
        assert httpx.post(f"{run.api}/tasks", json={"title": "shared"}).status_code == 201

        second_api = f"""
    - name: second_api
      type: FastAPIEndpoint
      config: {{port: {second}}}
  bindings:
    - {{from_component: second_api, to_component: store, stream_name: input}}"""
        path.write_text(default.replace("\n  bindings:", second_api))  # --watch sees it

        def reloaded_by() -> set[int]:  # a write may be seen as more than one change
            events = run.events_so_far()
            return {e["pid"] for e in events if e.get("added") == ["second_api"]}

        wait_until(lambda: reloaded_by() == pids)
        listed = httpx.get(f"http://127.0.0.1:{second}/tasks", timeout=10)
        assert [r["title"] for r in listed.json()["data"]] == ["shared"]

        # The parent refuses a broken file itself: no worker hears of it, by watch or SIGHUP.
        path.write_text(default.replace('"Store"', '"Stoer"'))
        assert run.wait_for("reload_failed")[0]["by"] == "watch"
        run.process.send_signal(signal.SIGHUP)

        def refused_sighup() -> list[dict[str, Any]]:
            events = run.events_so_far()
            return [e for e in events if e.get("event") == "reload_failed" and e["by"] == "SIGHUP"]

        wait_until(lambda: bool(refused_sighup()))
        failed = refused_sighup()[0]
        assert "pid" not in failed
        [problem] = failed["problems"]
        line = next(n for n, text in enumerate(default.splitlines(), 1) if '"Store"' in text)
        assert problem.startswith(f"{path}:{line}:")
        assert run.stop() == 0, run.err[-3000:]
    finally:
        run.kill()
    # Only the good file reached the workers.
    assert all(e["removed"] == [] for e in run.events if e.get("event") == "reloaded")
    assert not [e for e in run.events if e.get("event") == "reload_failed" and "pid" in e]

"""``autocoder run`` processes for the replica and worker tests: start, wait for ``/ready``, stop.

A process is started on a port named up front (``free_port``); ``ready`` polls ``/ready``
until it answers 200 and fails with the process's output when it exits or takes too long.
Output goes to files (a pipe nobody reads would stall a process that logs a lot).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
READY_WITHIN_SECONDS = 90


@dataclass
class Run:
    """A running ``autocoder run`` and the URL of its API."""

    process: subprocess.Popen[bytes]
    api: str
    logs: Path
    out: str = ""
    err: str = ""
    code: int | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    def ready(self) -> None:
        deadline = time.monotonic() + READY_WITHIN_SECONDS
        with httpx.Client(base_url=self.api, timeout=5) as client:
            while True:
                if self.process.poll() is not None:
                    self.finish()
                    raise AssertionError(f"autocoder exited {self.code}:\n{self.out}{self.err}")
                try:
                    if client.get("/ready").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    self.process.kill()
                    self.finish()
                    raise AssertionError(f"not ready in {READY_WITHIN_SECONDS}s:\n{self.err}")
                time.sleep(0.05)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Signal the process, wait for it; its exit code (output in ``out``/``err``)."""
        self.process.send_signal(signum)
        return self.finish()

    def finish(self, timeout: float = 90) -> int:
        self.process.wait(timeout=timeout)
        self.out = (self.logs / "stdout").read_text()
        self.err = err = (self.logs / "stderr").read_text()
        self.code = self.process.returncode
        self.events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        return self.code

    def events_so_far(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far (while it runs)."""
        lines = (self.logs / "stderr").read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{") and line.endswith("}")]

    def wait_for(self, event: str, count: int = 1, seconds: float = 60) -> list[dict[str, Any]]:
        """The first ``count`` log lines of ``event``, once there are that many."""
        deadline = time.monotonic() + seconds
        while True:
            found = [line for line in self.events_so_far() if line.get("event") == event]
            if len(found) >= count:
                return found[:count]
            assert self.process.poll() is None, (self.logs / "stderr").read_text()
            assert time.monotonic() < deadline, f"no {count}x {event} within {seconds}s"
            time.sleep(0.05)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def start(
    blueprint: Path, cwd: Path, port: int, *args: str, env: dict[str, str] | None = None
) -> Run:
    """``autocoder run BLUEPRINT --log-format json ARGS`` with ``API_PORT`` set (not waited on)."""
    environ = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "PYTHONUNBUFFERED": "1",
        "API_PORT": str(port),
        **(env or {}),
    }
    command = [sys.executable, "-m", "autocoder", "run", str(blueprint), "--log-format", "json"]
    logs = cwd / f"run-{port}"
    logs.mkdir()
    with open(logs / "stdout", "wb") as out, open(logs / "stderr", "wb") as err:
        process = subprocess.Popen(
            [*command, *args],
            cwd=cwd,
            env=environ,
            stdout=out,
            stderr=err,
        )
    return Run(process, f"http://127.0.0.1:{port}", logs)

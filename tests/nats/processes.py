"""``autocoder run`` as separate processes, as an operator starts them on several machines."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Process:
    """One ``autocoder run BLUEPRINT ARGS...``; output goes to files named after ``label``."""

    def __init__(self, tmp_path: Path, label: str, *args: str, env: dict[str, str]) -> None:
        self.label = label
        self.out = tmp_path / f"{label}.out"
        self.err = tmp_path / f"{label}.err"
        environ = {**os.environ, "PYTHONPATH": str(REPO), **env}
        with self.out.open("w") as out, self.err.open("w") as err:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "autocoder", "run", *args, "--log-format", "json"],
                cwd=tmp_path,
                env=environ,
                stdout=out,
                stderr=err,
            )

    def output(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def wait_up(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while "is up" not in self.out.read_text():
            if self.popen.poll() is not None:
                raise AssertionError(
                    f"{self.label} exited ({self.popen.returncode}):\n{self.output()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.label} not up within {seconds}s:\n{self.output()}")
            time.sleep(0.05)

    def stop(self, timeout: float = 30) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise AssertionError(f"{self.label} did not stop:\n{self.output()}") from None

    def kill(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()


def wait_until(condition: object, seconds: float, what: str) -> None:
    """Poll ``condition()`` until it is true (no fixed sleeps)."""
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds}s: {what}")
        time.sleep(0.05)

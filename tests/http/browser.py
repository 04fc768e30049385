"""A real browser for what a page shows: headless Chromium (Debian's ``chromium`` package).

``rendered_dom(url)`` loads a page in a fresh profile with every host but the loopback one
unresolvable (as on a machine without internet access), lets its scripts run for a virtual
time budget, and returns the DOM as they left it. Without Chromium the test skips loudly,
and fails under ``CI=true`` (``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import shutil
import tempfile

import anyio
import pytest

#: Flags for a quiet, reproducible headless run: no background traffic, no first-run work.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # Nothing but 127.0.0.1 resolves: a page that needs a CDN stays blank, as offline.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


def chromium() -> str:
    """The Chromium executable; skip (fail under CI=true) when it is not installed."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path is not None:
            return path
    message = "Chromium is not installed (apt-get install -y chromium): the browser tests need it"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


async def rendered_dom(url: str, *, budget_ms: int = 20_000) -> str:
    """The DOM of ``url`` after its scripts ran (``--dump-dom`` after a virtual time budget)."""
    executable = chromium()
    with tempfile.TemporaryDirectory(prefix="autocoder-chromium-") as profile:
        with anyio.fail_after(90):
            result = await anyio.run_process(
                [
                    executable,
                    *CHROMIUM_FLAGS,
                    f"--user-data-dir={profile}",
                    f"--virtual-time-budget={budget_ms}",
                    "--dump-dom",
                    url,
                ],
                check=False,
            )
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    return result.stdout.decode()

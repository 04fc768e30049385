"""``request`` over nats: across processes, with no responder, and past its timeout."""

from __future__ import annotations

import time
from pathlib import Path
from textwrap import dedent

import httpx
import pytest

from autocoder import System
from autocoder.blueprint.loader import load_blueprint_text
from tests.nats.processes import Process, free_port, wait_until

API_AND_STORE = """\
system:
  name: {system}
  nats: {{url: "{url}"}}
  components:
    - {{name: api, type: FastAPIEndpoint, config: {{port: {port}}}}}
    - {{name: store, type: Store}}
  bindings:
    - {{from_component: api, to_component: store, stream_name: input, transport: nats}}
"""


def test_an_api_reaches_a_store_in_another_process(
    tmp_path: Path, nats_url: str, system_name: str
) -> None:
    port = free_port()
    blueprint = tmp_path / "system.yaml"
    blueprint.write_text(API_AND_STORE.format(system=system_name, url=nats_url, port=port))
    store = Process(tmp_path, "store", str(blueprint), "--components", "store", env={})
    api = Process(tmp_path, "api", str(blueprint), "--components", "api", env={})
    try:
        store.wait_up()
        api.wait_up()
        base = f"http://127.0.0.1:{port}"
        created = httpx.post(f"{base}/tasks", json={"title": "across"}, timeout=10)
        assert created.status_code == 201, created.text
        record_id = created.json()["id"]
        got = httpx.get(f"{base}/tasks/{record_id}", timeout=10)
        assert got.json()["data"]["title"] == "across"
        health = httpx.get(f"{base}/health", timeout=10).json()
        assert health["components"]["api"]["transport_connected"] is True
        assert "store" not in health["components"]  # it runs in the other process
        assert httpx.get(f"{base}/ready", timeout=10).status_code == 200
    finally:
        assert api.stop() == 0, api.output()
        assert store.stop() == 0, store.output()


CALLER = """\
system:
  name: {system}
  nats: {{url: "{url}"}}
  components:
    - {{name: caller, type: "tests.nats.components:Recorder", config: {{output: out.jsonl}}}}
    - {{name: slow, type: "tests.nats.components:Recorder",
       config: {{output: {output}, delay: {delay}}}}}
  bindings:
    - {{from_component: caller, to_component: slow, stream_name: input, transport: nats}}
"""


@pytest.mark.anyio
async def test_no_process_running_the_receiver_answers_unavailable_at_once(
    tmp_path: Path, nats_url: str, system_name: str
) -> None:
    text = CALLER.format(system=system_name, url=nats_url, output=tmp_path / "x", delay=0)
    system = System.from_loaded(load_blueprint_text(dedent(text)), only=["caller"])
    async with system:
        started = time.monotonic()
        reply = await system.components["caller"].request("input", {"action": "get"}, 30.0)
        elapsed = time.monotonic() - started
    assert reply["status"] == "error"
    assert reply["error_type"] == "unavailable"
    assert "slow" in reply["message"]
    assert elapsed < 5.0, f"answered after {elapsed:.1f}s of a 30 s timeout"


@pytest.mark.anyio
async def test_a_late_reply_is_a_timeout_and_a_nats_binding_works_within_one_process(
    tmp_path: Path, nats_url: str, system_name: str
) -> None:
    output = tmp_path / "slow.jsonl"
    text = CALLER.format(system=system_name, url=nats_url, output=output, delay=0.8)
    async with System.from_loaded(load_blueprint_text(dedent(text))) as system:
        caller = system.components["caller"]
        reply = await caller.request("input", {"n": 1}, 0.3)
        assert reply["error_type"] == "timeout"
        reply = await caller.request("input", {"n": 2}, 10.0)
        assert reply == {"status": "success"}
        health = caller.health_status()
        assert health["transport_connected"] is True
    wait_until(lambda: output.exists() and output.read_text().count("\n") == 2, 10, "both seen")

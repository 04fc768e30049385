"""Tracing configured by ``OTEL_*`` variables: off by default, the console exporter in a real
``autocoder run`` process, and the one-line error of an unknown exporter."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from autocoder.errors import ConfigurationError
from autocoder.observability.tracing import tracing_from_environment
from autocoder.system import System

BLUEPRINT = """
system:
  name: console_traced
  components:
    - name: api
      type: FastAPIEndpoint
      config:
        port: ${API_PORT}
    - name: store
      type: Store
      config: {storage_type: memory}
    - name: metrics
      type: MetricsEndpoint
      config:
        port: ${METRICS_PORT}
  bindings:
    - {from_component: api, to_component: store, stream_name: input}
"""


def spans_printed(stdout: str) -> list[dict[str, Any]]:
    """The JSON span objects the console exporter printed among the start-up lines."""
    decoder = json.JSONDecoder()
    spans: list[dict[str, Any]] = []
    index = 0
    while (start := stdout.find("{", index)) != -1:
        try:
            value, index = decoder.raw_decode(stdout, start)
        except ValueError:
            index = start + 1
            continue
        if isinstance(value, dict) and "context" in value:
            spans.append(value)
    return spans


def test_the_console_exporter_prints_one_server_span_and_its_children(tmp_path: Path) -> None:
    from tests.http.test_blueprints_e2e import start

    blueprint = tmp_path / "traced.yaml"
    blueprint.write_text(textwrap.dedent(BLUEPRINT))
    served = start(blueprint, tmp_path, {"OTEL_TRACES_EXPORTER": "console"})
    try:
        with httpx.Client(base_url=served.api, timeout=10) as client:
            created = client.post("/tasks", json={"title": "record-data-Zz8"})
            fetched = client.get(created.headers["location"])
    finally:
        code, out, err = served.stop()
    assert code == 0, err
    assert fetched.status_code == 200

    spans = spans_printed(out)
    servers = [s for s in spans if s["kind"] == "SpanKind.SERVER"]
    names = sorted(s["name"] for s in servers if s["name"] != "GET /ready")
    assert names == ["GET /tasks/{id}", "POST /tasks"]
    for server in servers:
        if server["name"] == "GET /ready":
            continue
        children = [s for s in spans if s["parent_id"] == server["context"]["span_id"]]
        assert [c["name"] for c in children] == ["process store"]
        assert children[0]["context"]["trace_id"] == server["context"]["trace_id"]
        assert server["parent_id"] is None
        assert server["resource"]["attributes"]["service.name"] == "console_traced"
    assert "record-data-Zz8" not in out
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    access = [e for e in lines if e.get("event") == "request" and e["route"] == "/tasks"]
    post_span = next(s for s in servers if s["name"] == "POST /tasks")
    assert access[0]["trace_id"] == post_span["context"]["trace_id"].removeprefix("0x")


@pytest.mark.anyio
async def test_tracing_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    environ = {"API_PORT": "0", "METRICS_PORT": "0"}
    async with System.from_text(textwrap.dedent(BLUEPRINT), "<t>", environ=environ) as system:
        assert system.tracing is None
        assert all(c.tracing is None for c in system.components.values())


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, True),
        ({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_the_exporters_the_variables_name(environ: dict[str, str], on: bool) -> None:
    tracing = tracing_from_environment("s", environ)
    assert (tracing is not None) is on
    if tracing is not None:
        tracing.shutdown()


def test_an_unknown_exporter_is_a_configuration_error_naming_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown exporter 'jaeger'.*none, otlp, console"):
        tracing_from_environment("s", {"OTEL_TRACES_EXPORTER": "jaeger"})


def test_autocoder_run_with_an_unknown_exporter_exits_1_with_one_line(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    blueprint = tmp_path / "traced.yaml"
    blueprint.write_text(textwrap.dedent(BLUEPRINT))
    result = subprocess.run(
        [sys.executable, "-m", "autocoder", "run", str(blueprint)],
        env={**os.environ, "OTEL_TRACES_EXPORTER": "zipkin", "API_PORT": "0", "METRICS_PORT": "0"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "OTEL_TRACES_EXPORTER: unknown exporter 'zipkin'" in result.stderr
    assert "Traceback" not in result.stderr

"""MetricsEndpoint: the Prometheus text parsed back, its families and labels, and ``/health``."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from tests.http.support import Running, Serve

pytestmark = pytest.mark.anyio


async def scrape(api: Running) -> dict[str, Metric]:
    async with httpx.AsyncClient(base_url=api.url_of("metrics")) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {f.name: f for f in text_string_to_metric_families(response.text)}


def labels_of(family: Metric, suffix: str = "") -> list[dict[str, str]]:
    return [s.labels for s in family.samples if s.name == family.name + suffix]


async def test_http_traffic_is_counted_by_route_template(api: Running) -> None:
    await api.client.post("/tasks", json={"t": 1})
    await api.client.get("/tasks/1")
    await api.client.get("/tasks/2")
    await api.client.get("/tasks/2")
    await api.client.get("/nowhere/at/all")

    families = await scrape(api)

    requests = families["autocoder_http_requests"]
    assert requests.type == "counter"
    counts = {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for s in requests.samples
        if s.name == "autocoder_http_requests_total"
    }
    assert counts[("POST", "/tasks", "201")] == 1
    assert counts[("GET", "/tasks/{id}", "200")] == 1
    assert counts[("GET", "/tasks/{id}", "404")] == 2
    assert counts[("GET", "unmatched", "404")] == 1
    assert all(s.labels["component"] == "api" for s in requests.samples)
    routes = {s.labels["route"] for s in requests.samples}
    assert not any(route.endswith(("/1", "/2")) for route in routes)

    seconds = families["autocoder_http_request_seconds"]
    assert seconds.type == "histogram"
    buckets = labels_of(seconds, "_bucket")
    assert {"component": "api", "method": "GET", "route": "/tasks/{id}", "le": "+Inf"} in buckets
    assert "/nowhere/at/all" not in str(seconds.samples)


async def test_every_spec_family_is_exported_with_its_labels(api: Running) -> None:
    await api.client.post("/tasks", json={"t": 1})
    await api.client.get("/tasks", params={"limit": "abc"})  # 422 from the endpoint itself
    await api.client.post("/actions/input", json={"action": "explode"})  # an error reply

    families = await scrape(api)

    up = {
        (s.labels["component"], s.labels["type"]): s.value
        for s in families["autocoder_component_up"].samples
    }
    assert up == {
        ("api", "FastAPIEndpoint"): 1.0,
        ("store", "Store"): 1.0,
        ("metrics", "MetricsEndpoint"): 1.0,
    }
    received = labels_of(families["autocoder_messages_received"], "_total")
    assert {"component": "store", "stream": "input"} in received
    sent = labels_of(families["autocoder_messages_sent"], "_total")
    assert {"component": "api", "stream": "input"} in sent
    errors = labels_of(families["autocoder_message_errors"], "_total")
    assert {"component": "store", "error_type": "unknown_action"} in errors
    processing = labels_of(families["autocoder_processing_seconds"], "_count")
    assert {"component": "store", "action": "create"} in processing
    buffers = labels_of(families["autocoder_stream_buffer_used"])
    assert {"component": "store", "stream": "input"} in buffers
    for name in (
        "autocoder_store_operations",
        "autocoder_store_records",
        "autocoder_db_pool_connections",
        "autocoder_component_restarts",
    ):
        assert name in families, name
    assert any(name.startswith("process_") for name in families)
    assert any(name.startswith("python_") for name in families)


async def test_metrics_health_reports_the_system(api: Running) -> None:
    async with httpx.AsyncClient(base_url=api.url_of("metrics")) as client:
        health = await client.get("/health")
        missing = await client.get("/other")
        post = await client.post("/metrics")

    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert set(health.json()["components"]) == {"api", "store", "metrics"}
    assert missing.status_code == 404
    assert post.status_code == 405


async def test_a_custom_metrics_path(serve: Serve) -> None:
    text = """
system:
  name: custom_path
  components:
    - name: metrics
      type: MetricsEndpoint
      config: {port: 0, path: /prometheus}
"""
    async with serve(text, endpoint="metrics") as r:
        assert (await r.client.get("/prometheus")).status_code == 200
        assert (await r.client.get("/metrics")).status_code == 404
        assert r.component("metrics").urls() == [
            f"http://127.0.0.1:{r.component('metrics').port}/prometheus"
        ]

"""Tracing over OTLP/HTTP to a receiver the test runs: HTTP → bindings → database statements.

The receiver is a small HTTP server in this process that decodes each export request with
``opentelemetry-proto``, as a collector would. The system is configured by the standard
``OTEL_*`` variables only, and exports when it stops.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from autocoder.system import System
from tests.conformance.backends import MYSQL_URL, POSTGRESQL_URL, server_table
from tests.http.support import running

pytestmark = pytest.mark.anyio


@dataclass
class Received:
    """One span as the receiver decoded it."""

    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    attributes: dict[str, Any]
    service: str


class Receiver:
    """An OTLP/HTTP trace receiver on a free port of 127.0.0.1."""

    def __init__(self) -> None:
        self.spans: list[Received] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.take(self.path, body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def take(self, path: str, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.paths.append(path)
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attributes = {a.key: _value(a.value) for a in span.attributes}
                    self.spans.append(
                        Received(
                            span.name,
                            span.trace_id.hex(),
                            span.span_id.hex(),
                            span.parent_span_id.hex(),
                            span.kind,
                            attributes,
                            resource.get("service.name", ""),
                        )
                    )


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    server = Receiver()
    server.thread.start()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", server.url)
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    yield server
    server.server.shutdown()
    server.server.server_close()


BLUEPRINT = """
system:
  name: traced_system
  components:
    - name: api
      type: FastAPIEndpoint
      config: {{port: 0}}
    - name: checker
      type: "examples.orders:OrderChecker"
    - name: orders
      type: Store
      config: {{storage_type: database, database_url: "sqlite:///{db}", table_name: orders}}
  bindings:
    - {{from_component: api, to_component: checker, stream_name: input}}
    - {{from_component: checker, to_component: orders, stream_name: store}}
"""

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


async def test_a_request_is_one_trace_from_http_through_bindings_to_each_statement(
    receiver: Receiver, tmp_path: Path
) -> None:
    system = System.from_text(BLUEPRINT.format(db=tmp_path / "orders.db"), "<test>")
    async with running(system) as r:
        created = await r.client.post(
            "/orders",
            json={"item": "secret-item-Kq4", "quantity": 2, "unit_price": "1.5"},
            headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
        )
        request_id = created.headers["x-request-id"]
    assert created.status_code == 201

    assert receiver.paths and set(receiver.paths) == {"/v1/traces"}
    ours = [s for s in receiver.spans if s.trace_id == TRACE_ID]
    [server] = [s for s in ours if s.kind == 2]  # SERVER: one per request
    assert server.name == "POST /orders"
    assert server.parent_id == PARENT_ID  # the traceparent's span is its parent
    assert server.attributes["http.route"] == "/orders"
    assert server.attributes["http.response.status_code"] == 201
    assert server.attributes["autocoder.request_id"] == request_id
    assert server.service == "traced_system"

    by_id = {s.span_id: s for s in ours}
    [checker] = [s for s in ours if s.name == "process checker"]
    [store] = [s for s in ours if s.name == "process orders"]
    assert checker.parent_id == server.span_id
    assert store.parent_id == checker.span_id
    assert store.attributes["autocoder.action"] == "create"
    assert store.attributes["autocoder.stream"] == "store"
    statements = [s for s in ours if "db.system" in s.attributes]
    assert statements, [s.name for s in ours]
    for statement in statements:
        assert statement.attributes["db.system"] == "sqlite"
        assert statement.kind == 3  # CLIENT
        # Each statement hangs under the store's span (directly or through one of its own).
        parent = by_id[statement.parent_id]
        assert parent.span_id == store.span_id or parent.parent_id == store.span_id

    everything = repr(receiver.spans)
    assert "secret-item-Kq4" not in everything  # no record data in any span
    assert "/orders/" not in everything  # no raw path


async def test_messages_outside_a_request_make_no_spans(receiver: Receiver, tmp_path: Path) -> None:
    system = System.from_text(BLUEPRINT.format(db=tmp_path / "orders.db"), "<test>")
    async with system:
        reply = await system.components["orders"].process_item({"action": "list"})
    assert reply["status"] == "success"
    assert [s for s in receiver.spans if s.name.startswith("process")] == []


async def test_otel_service_name_names_the_service(
    receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "orders-eu")
    system = System.from_text(BLUEPRINT.format(db=tmp_path / "orders.db"), "<test>")
    async with running(system) as r:
        await r.client.get("/health")
    assert {s.service for s in receiver.spans} == {"orders-eu"}


SERVER_BLUEPRINT = """
system:
  name: traced_on_a_server
  components:
    - {name: api, type: FastAPIEndpoint, config: {port: 0}}
    - {name: store, type: Store, config: {}}
  bindings:
    - {from_component: api, to_component: store, stream_name: input}
"""


@pytest.mark.parametrize(
    ("url", "db_system"),
    [
        pytest.param(POSTGRESQL_URL, "postgresql", marks=pytest.mark.postgresql),
        pytest.param(MYSQL_URL, "mysql", marks=pytest.mark.mysql),
    ],
)
async def test_statements_on_a_database_server_are_spans_with_its_db_system(
    receiver: Receiver, url: str, db_system: str
) -> None:
    async with server_table(url) as config:
        text = SERVER_BLUEPRINT.replace("config: {}", f"config: {json.dumps(config)}")
        system = System.from_text(text, "<test>")
        async with running(system) as r:
            table = config["table_name"]
            created = await r.client.post(f"/{table}", json={"title": "x"})
            assert (await r.client.get(created.headers["location"])).status_code == 200

    servers = {s.span_id: s for s in receiver.spans if s.kind == 2}
    stores = {s.span_id: s for s in receiver.spans if s.name == "process store"}
    statements = [s for s in receiver.spans if s.attributes.get("db.system") == db_system]
    operations = {s.attributes["db.operation.name"] for s in statements}
    # A create is an INSERT; on PostgreSQL, with group commit on, one WITH … INSERT statement
    # that numbers its change too.
    assert "SELECT" in operations and operations & {"INSERT", "WITH"}, operations
    for statement in statements:
        store = stores[statement.parent_id]
        assert store.parent_id in servers

"""A trace goes on across nats bindings: request (NATS request/reply) and send (JetStream).

One process, a real nats-server and an OTLP/HTTP receiver run by the test: POST /tasks reaches
the store over a nats request, and the store's change event reaches the audit store over a
nats send. Every span is in the request's trace, each under the one that sent its message.
"""

from __future__ import annotations

from collections.abc import Iterator
from textwrap import dedent

import anyio
import pytest

from autocoder import System
from autocoder.blueprint.loader import load_blueprint_text
from tests.http.support import running
from tests.http.test_tracing_otlp import Receiver

pytestmark = pytest.mark.anyio

BLUEPRINT = """\
system:
  name: {system}
  nats: {{url: "{url}"}}
  components:
    - {{name: api, type: FastAPIEndpoint, config: {{port: 0}}}}
    - {{name: store, type: Store, config: {{storage_type: memory}}}}
    - {{name: audit, type: Store, config: {{storage_type: memory, table_name: audit}}}}
  bindings:
    - {{from_component: api, to_component: store, stream_name: input, transport: nats}}
    - {{from_component: store, to_component: audit, stream_name: changes, transport: nats}}
"""


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    server = Receiver()
    server.thread.start()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", server.url)
    yield server
    server.server.shutdown()
    server.server.server_close()


async def test_the_trace_of_a_request_crosses_nats_requests_and_sends(
    receiver: Receiver, nats_url: str, system_name: str
) -> None:
    text = BLUEPRINT.format(system=system_name, url=nats_url)
    system = System.from_loaded(load_blueprint_text(dedent(text)))
    async with running(system) as r:
        created = await r.client.post("/tasks", json={"title": "x"})
        assert created.status_code == 201
        audit = system.components["audit"]
        with anyio.fail_after(20):
            while (await audit.process_item({"action": "list"}))["count"] < 1:
                await anyio.sleep(0.05)

    [server] = [s for s in receiver.spans if s.name == "POST /tasks"]
    trace = [s for s in receiver.spans if s.trace_id == server.trace_id]
    [store] = [s for s in trace if s.name == "process store"]
    [audit_span] = [s for s in trace if s.name == "process audit"]
    assert store.parent_id == server.span_id  # across the nats request
    assert audit_span.parent_id == store.span_id  # across the nats send
    assert audit_span.attributes["autocoder.event"] == "created"

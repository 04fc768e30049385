"""A slow, stuck or broken store: 504, 503 with Retry-After, 500, and never a stack trace.

The staged store is the one fake here: it holds messages until released, which a real store
cannot be made to do on demand.
"""

from __future__ import annotations

import anyio
import httpx
import pytest

from autocoder.blueprint.model import Binding
from autocoder.components.fastapi_endpoint import FastAPIEndpoint
from tests.http.fakes import StagedStore, schemaless
from tests.http.support import Serve

pytestmark = pytest.mark.anyio


def endpoint(timeout: float = 0.5) -> FastAPIEndpoint:
    return FastAPIEndpoint("api", {"port": 0, "request_timeout": timeout})


def bind(buffer_size: int = 100) -> list[Binding]:
    return [
        Binding(
            from_component="api",
            to_component="store",
            stream_name="input",
            buffer_size=buffer_size,
        )
    ]


async def test_no_reply_within_request_timeout_is_504(serve: Serve) -> None:
    store = StagedStore("store", [schemaless("jobs")], hold=True)
    async with serve(components=[endpoint(0.3), store], bindings=bind()) as r:
        response = await r.client.get("/jobs/1")
        store.release()

    assert response.status_code == 504
    body = response.json()
    assert body["status"] == "error"
    assert body["error_type"] == "timeout"
    assert "0.3s" in body["message"]


async def test_a_buffer_full_for_request_timeout_is_503_with_retry_after(serve: Serve) -> None:
    store = StagedStore("store", [schemaless("jobs")], hold=True)
    async with serve(components=[endpoint(0.5), store], bindings=bind(buffer_size=1)) as r:
        responses: dict[str, httpx.Response] = {}

        async def call(key: str) -> None:
            responses[key] = await r.client.get(f"/jobs/{key}")

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(call, "held")  # taken by the store's worker, which holds it
                while not store.seen:
                    await anyio.sleep(0.01)
                tg.start_soon(call, "queued")  # fills the one-message buffer
                while r.component("store").receive_streams["input"].buffer_used() < 1:
                    await anyio.sleep(0.01)
                tg.start_soon(call, "refused")  # finds the buffer full
        store.release()

    refused = responses["refused"]
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error_type"] == "unavailable"
    assert "buffer" in refused.json()["message"]
    assert responses["held"].status_code == 504


@pytest.mark.parametrize(
    ("error_type", "status"),
    [
        ("validation_error", 422),
        ("unknown_action", 400),
        ("conflict", 409),
        ("version_conflict", 412),
        ("unavailable", 503),
        ("timeout", 504),
        ("internal", 500),
        ("something_new", 500),
    ],
)
async def test_store_error_types_map_to_status_codes(
    serve: Serve, error_type: str, status: int
) -> None:
    reply = {"status": "error", "message": "staged", "error_type": error_type}
    store = StagedStore("store", [schemaless("jobs")], reply)
    async with serve(components=[endpoint(), store], bindings=bind()) as r:
        response = await r.client.patch("/jobs/1", json={"a": 1})

    assert response.status_code == status
    assert response.json() == reply
    assert ("retry-after" in response.headers) == (status == 503)


async def test_a_store_that_fails_while_processing_answers_503(serve: Serve) -> None:
    class Exploding(StagedStore):
        async def process_item(self, item: object) -> object:
            if isinstance(item, dict) and item.get("action") == "describe":
                return await super().process_item(item)
            raise RuntimeError("disk on fire at /secret/path")

    store = Exploding("store", [schemaless("jobs")])
    async with serve(components=[endpoint(), store], bindings=bind()) as r:
        response = await r.client.get("/jobs/1")

    assert response.status_code == 503
    assert response.json()["error_type"] == "unavailable"
    assert "Traceback" not in response.text


async def test_an_unusable_reply_is_a_json_500_without_a_stack_trace(serve: Serve) -> None:
    # A key that is not a string cannot be JSON: encoding the reply fails inside the endpoint.
    store = StagedStore("store", [schemaless("jobs")], {"status": "success", 1: "one"})
    async with serve(components=[endpoint(), store], bindings=bind()) as r:
        response = await r.client.get("/jobs/1")

    assert response.status_code == 500
    body = response.json()
    assert body["error_type"] == "internal"
    assert response.headers["x-request-id"] in body["message"]
    assert "Traceback" not in response.text
    assert "TypeError" not in response.text

"""Bad requests get clear 4xx answers, never a stack trace, and never reach storage as text."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.http.support import Running, Serve

pytestmark = pytest.mark.anyio

SMALL_BODY_BLUEPRINT = """
system:
  name: small_bodies
  components:
    - name: api
      type: FastAPIEndpoint
      config: {port: 0, max_body_bytes: 64}
    - name: store
      type: Store
  bindings:
    - {from_component: api, to_component: store, stream_name: input}
"""


def assert_clean_error(body: dict[str, object]) -> None:
    assert body["status"] == "error"
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in body["message"]


@pytest.mark.parametrize("path", ["/tasks", "/tasks/1", "/actions/input"])
@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b'{"title": ', "not valid JSON"),
        (b"[1, 2]", "not an array"),
        (b'"text"', "not a string"),
        (b"null", "not null"),
        (b"", "empty"),
    ],
)
async def test_malformed_or_non_object_bodies_are_400(
    api: Running, path: str, raw: bytes, why: str
) -> None:
    await api.client.post("/tasks", json={"title": "x"})
    method = "POST" if path != "/tasks/1" else "PUT"

    response = await api.client.request(
        method, path, content=raw, headers={"content-type": "application/json"}
    )

    assert response.status_code == 400
    assert_clean_error(response.json())
    assert why.split()[-1] in response.json()["message"]


@pytest.fixture
async def small(serve: Serve) -> AsyncIterator[Running]:
    async with serve(SMALL_BODY_BLUEPRINT) as r:
        yield r


async def test_a_body_over_max_body_bytes_is_413(small: Running) -> None:
    response = await small.client.post("/tasks", json={"title": "x" * 100})

    assert response.status_code == 413
    assert_clean_error(response.json())
    assert "64 bytes" in response.json()["message"]
    assert (await small.client.get("/tasks")).json()["count"] == 0


async def test_a_streamed_body_without_length_is_cut_at_the_limit(small: Running) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"title": "'
        for _ in range(10):
            yield b"x" * 20
        yield b'"}'

    response = await small.client.post("/tasks", content=chunks())

    assert response.status_code == 413
    assert (await small.client.get("/tasks")).json()["count"] == 0


async def test_a_body_at_the_limit_is_accepted(small: Running) -> None:
    body = b'{"t": "' + b"x" * (64 - 10) + b'"}'
    assert len(body) == 63

    response = await small.client.post("/tasks", content=body)

    assert response.status_code == 201


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"limit": "abc"}, "'limit' must be an integer"),
        ({"offset": "1.5"}, "'offset' must be an integer"),
        ({"offset": "-1"}, "must not be negative"),
        ({"limit": "-3"}, "must not be negative"),
        ({"limit": "5000"}, "'limit' must be a whole number from 0 to 1000"),
        ({"order_by": ""}, "order_by"),
    ],
)
async def test_bad_list_parameters_are_422(
    api: Running, params: dict[str, str], fragment: str
) -> None:
    response = await api.client.get("/tasks", params=params)

    assert response.status_code == 422
    assert response.json()["error_type"] == "validation_error"
    assert fragment in response.json()["message"]


async def test_a_filter_given_twice_is_422(api: Running) -> None:
    response = await api.client.get("/tasks?done=true&done=false")

    assert response.status_code == 422
    assert "more than once" in response.json()["message"]


@pytest.mark.parametrize(
    "record_id",
    ["1' OR '1'='1", "1; DROP TABLE tasks; --", '" OR ""="', "../../etc/passwd", "%00"],
)
async def test_injection_shaped_ids_are_just_ids(api: Running, record_id: str) -> None:
    await api.client.post("/tasks", json={"title": "keep me"})

    response = await api.client.get("/tasks/" + record_id.replace("/", "%2F"))

    assert response.status_code == 404
    assert (await api.client.get("/tasks/1")).json()["data"]["title"] == "keep me"


async def test_an_injection_shaped_id_can_be_created_and_read_back(api: Running) -> None:
    record_id = "x' OR 1=1 --"
    created = await api.client.post("/tasks", json={"id": record_id, "v": 1})
    assert created.status_code == 201

    response = await api.client.get(created.headers["location"])

    assert response.status_code == 200
    assert response.json()["data"]["id"] == record_id


@pytest.mark.parametrize(
    "field", ["title; DROP TABLE tasks", "a'b", "data->>'x'", "1field", "a b", "x" * 64]
)
async def test_injection_shaped_field_names_in_filters_are_422(api: Running, field: str) -> None:
    await api.client.post("/tasks", json={"title": "keep me"})

    response = await api.client.get("/tasks", params={field: "1"})

    assert response.status_code == 422
    assert response.json()["error_type"] == "validation_error"
    assert (await api.client.get("/tasks")).json()["count"] == 1


async def test_injection_shaped_order_by_is_422(api: Running) -> None:
    response = await api.client.get("/tasks", params={"order_by": "title; DROP TABLE tasks"})

    assert response.status_code == 422


async def test_an_id_longer_than_255_characters_is_422(api: Running) -> None:
    response = await api.client.get("/tasks/" + "x" * 256)

    assert response.status_code == 422
    assert response.json()["error_type"] == "validation_error"

"""A V5EnhancedStore's tables over HTTP: one collection per table, columns in OpenAPI, and the
store's field validation as 422 naming the field. ``testing_mode`` runs it on SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.http.support import Running, Serve

pytestmark = pytest.mark.anyio

V5_BLUEPRINT = """
system:
  name: v5_http
  components:
    - name: api
      type: FastAPIEndpoint
      config: {port: 0}
    - name: store
      type: V5EnhancedStore
      config:
        testing_mode: true
        database:
          type: postgresql
          connection_string: "postgresql://app@db.invalid:5432/app"
          schema:
            tables: [tasks, users]
            migrations:
              - version: "001"
                description: tasks
                sql: |
                  CREATE TABLE tasks (
                    id SERIAL PRIMARY KEY,
                    title VARCHAR(255) NOT NULL,
                    completed BOOLEAN DEFAULT FALSE,
                    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
                  );
              - version: "002"
                description: users
                sql: |
                  CREATE TABLE users (
                    id SERIAL PRIMARY KEY,
                    email VARCHAR(255) UNIQUE NOT NULL
                  );
  bindings:
    - {from_component: api, to_component: store, stream_name: input}
"""


@pytest.fixture
async def v5(serve: Serve) -> AsyncIterator[Running]:
    async with serve(V5_BLUEPRINT) as r:
        yield r


async def test_every_table_is_a_collection_with_generated_ids(v5: Running) -> None:
    task = await v5.client.post("/tasks", json={"title": "columns"})
    user = await v5.client.post("/users", json={"email": "ann@example.com"})

    assert task.status_code == 201
    assert task.headers["location"] == "/tasks/1"
    assert task.json()["data"]["completed"] is False  # the column default
    assert user.status_code == 201
    assert user.headers["location"] == "/users/1"
    fetched = await v5.client.get("/tasks/1")
    assert fetched.json()["data"]["title"] == "columns"
    listed = await v5.client.get("/tasks", params={"completed": "false"})
    assert [r["id"] for r in listed.json()["data"]] == ["1"]


@pytest.mark.parametrize(
    ("body", "field", "why"),
    [
        ({"completed": True}, "title", "required"),
        ({"title": 5}, "title", "expected a string"),
        ({"title": "x", "colour": "red"}, "colour", "unknown field"),
    ],
)
async def test_bad_fields_are_422_naming_the_field(
    v5: Running, body: dict[str, object], field: str, why: str
) -> None:
    response = await v5.client.post("/tasks", json=body)

    assert response.status_code == 422
    assert response.json()["error_type"] == "validation_error"
    assert why in response.json()["fields"][field]


async def test_a_unique_column_taken_is_409(v5: Running) -> None:
    assert (await v5.client.post("/users", json={"email": "a@b.c"})).status_code == 201

    response = await v5.client.post("/users", json={"email": "a@b.c"})

    assert response.status_code == 409
    assert response.json()["error_type"] == "conflict"


async def test_openapi_models_are_the_tables_columns(v5: Running) -> None:
    spec = (await v5.client.get("/openapi.json")).json()

    body = spec["paths"]["/tasks"]["post"]["requestBody"]["content"]["application/json"]
    schema = body["schema"]
    assert schema["required"] == ["title"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["title"] == {"maxLength": 255, "title": "Title", "type": "string"}
    assert schema["properties"]["created_at"]["anyOf"][0]["format"] == "date-time"
    record = spec["components"]["schemas"]["UsersRecord"]
    assert set(record["properties"]) == {"id", "email"}
    assert {"/tasks", "/tasks/{id}", "/users", "/users/{id}"} <= set(spec["paths"])

"""OpenAPI models of a collection, built from the fields its store describes.

A V5 table's columns become pydantic models (``create_model``): the record as replies show it,
the body of ``POST``/``PUT`` (required columns required, unknown fields refused) and of
``PATCH`` (every column optional). A schemaless collection takes and returns any JSON object.
The models only describe the API in ``/openapi.json`` and ``/docs``; the store validates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, create_model

from autocoder.http.auth import OPEN_PATHS
from autocoder.http.discovery import Collection

__all__ = [
    "TENANT_PARAMETER",
    "CollectionModels",
    "ErrorReply",
    "collection_models",
    "document_api_keys",
    "request_body",
]

#: The header choosing the tenant (unless an API key forces one), on every collection route.
TENANT_PARAMETER = {
    "name": "X-Tenant-ID",
    "in": "header",
    "required": False,
    "description": 'The tenant whose records to use (default ""); ignored with a tenant-bound key',
    "schema": {"type": "string"},
}

_SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer KEY"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}

_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "object": dict[str, Any],
    "array": list[Any],
    "datetime": datetime,
    "any": Any,
}


class ErrorReply(BaseModel):
    """An error reply: what went wrong, in words, and its type (docs/actions.md)."""

    status: str = Field(examples=["error"])
    message: str
    error_type: str = Field(examples=["validation_error"])


class NotFoundReply(BaseModel):
    """The reply when a record does not exist."""

    status: str = Field(examples=["not_found"])
    action: str | None = None
    id: str | None = None


class SuccessReply(BaseModel):
    """A bare success reply."""

    status: str = Field(examples=["success"])


@dataclass(frozen=True)
class CollectionModels:
    """The models documenting one collection's routes."""

    record: Any
    create: Any
    update: Any
    reply: type[BaseModel]
    page: type[BaseModel]


def _model_name(collection: str) -> str:
    words = [w for w in re.split(r"[^A-Za-z0-9]+", collection) if w]
    return "".join(w[:1].upper() + w[1:] for w in words) or "Collection"


def _field_type(info: Any) -> Any:
    kind = _TYPES.get(str(info.get("type", "any")), Any) if isinstance(info, dict) else Any
    if isinstance(info, dict) and info.get("nullable", True) and kind is not Any:
        return kind | None
    return kind


def _column_models(collection: Collection, base: str) -> tuple[Any, Any, Any]:
    forbid = ConfigDict(extra="forbid")
    record_fields: dict[str, Any] = {"id": (str, ...)}
    create_fields: dict[str, Any] = {}
    update_fields: dict[str, Any] = {}
    for name, info in collection.fields.items():
        kind = _field_type(info)
        limit = info.get("max_length") if isinstance(info, dict) else None
        extra: dict[str, Any] = {"max_length": limit} if limit and kind in (str, str | None) else {}
        record_fields.setdefault(name, (kind, Field(None, **extra)))
        if isinstance(info, dict) and info.get("generated"):
            continue
        required = isinstance(info, dict) and bool(info.get("required"))
        create_fields[name] = (kind, Field(... if required else None, **extra))
        update_fields[name] = (kind, Field(None, **extra))
    create_fields.setdefault("id", (str | None, Field(None, max_length=255)))
    record = create_model(f"{base}Record", **record_fields)
    create = create_model(f"{base}Create", __config__=forbid, **create_fields)
    update = create_model(f"{base}Update", __config__=forbid, **update_fields)
    return record, create, update


def collection_models(collection: Collection) -> CollectionModels:
    """The record, body, reply and page models of ``collection``."""
    base = _model_name(collection.name)
    if collection.schemaless:
        record: Any = dict[str, Any]
        create: Any = dict[str, Any]
        update: Any = dict[str, Any]
    else:
        record, create, update = _column_models(collection, base)
    reply = create_model(
        f"{base}Reply",
        status=(str, Field(examples=["success"])),
        id=(str | None, None),
        data=(record, ...),
        version=(int | None, None),
    )
    page = create_model(
        f"{base}Page",
        status=(str, Field(examples=["success"])),
        data=(list[record], ...),
        count=(int, ...),
        next_offset=(int | None, None),
    )
    return CollectionModels(record, create, update, reply, page)


def request_body(model: Any, description: str) -> dict[str, Any]:
    """An ``openapi_extra`` request body for ``model`` (the route reads the body itself)."""
    if isinstance(model, type) and issubclass(model, BaseModel):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    else:
        schema = {"type": "object", "additionalProperties": True}
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": schema}},
        }
    }


def document_api_keys(app: FastAPI) -> None:
    """Describe API-key authentication in ``/openapi.json`` (and the Authorize button of /docs).

    Every operation but the open ones (probes, docs) requires ``Authorization: Bearer KEY`` or
    ``X-API-Key: KEY``.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {})["securitySchemes"] = _SECURITY_SCHEMES
            for path, operations in schema.get("paths", {}).items():
                if path not in OPEN_PATHS:
                    for operation in operations.values():
                        operation["security"] = [{"bearer": []}, {"apiKey": []}]
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]

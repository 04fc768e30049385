"""The FastAPI application of a FastAPIEndpoint: one set of routes per collection, and more.

For each collection: ``POST /{c}`` (create), ``GET /{c}`` (list), ``GET|PATCH|PUT|DELETE
/{c}/{id}``; then ``POST /actions/{stream}`` (any action message), ``GET /health``, ``GET
/ready``, ``/openapi.json`` and ``/docs``. Every route turns the request into an action message,
sends it over the collection's binding with ``request_timeout``, and answers with the reply as
``status.reply_response`` maps it. Routes read and encode JSON themselves (orjson) instead of
letting FastAPI validate bodies: the store validates, and a malformed body must be a 400.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Receive, Scope, Send

from autocoder.errors import RequestRejected
from autocoder.http.auth import DOCS_ASSETS
from autocoder.http.discovery import Collection
from autocoder.http.health import SystemView, readiness, system_health
from autocoder.http.inputs import expected_version, list_message, read_json_object, wants_watch
from autocoder.http.middleware import FORCED_TENANT_KEY, REQUEST_ID_KEY, ROUTE_KEY, TENANT_KEY
from autocoder.http.openapi import (
    TENANT_PARAMETER,
    ErrorReply,
    NotFoundReply,
    collection_models,
    document_api_keys,
    request_body,
)
from autocoder.http.status import JSONResponse, error_response, reply_response
from autocoder.http.watch import OpenWatch, watch_response

__all__ = ["AppSpec", "DirectApp", "build_app"]

SendRequest = Callable[[str, dict[str, Any], float], Awaitable[dict[str, Any]]]

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorReply, "description": why}
    for code, why in (
        (400, "Malformed JSON or a body that is not an object"),
        (401, "API key missing or invalid"),
        (413, "Body larger than max_body_bytes"),
        (422, "Validation error"),
        (503, "Store unavailable (see Retry-After)"),
        (504, "No reply within request_timeout"),
    )
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": NotFoundReply, "description": "No such record"},
    412: {"model": ErrorReply, "description": "If-Match does not match the record's version"},
}
_ID_PARAMETER = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": 'Only if the record\'s version is this ETag, e.g. "3"',
    "schema": {"type": "string"},
}
_LIST_PARAMETERS = [
    TENANT_PARAMETER,
    {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer"}},
    {"name": "offset", "in": "query", "required": False, "schema": {"type": "integer"}},
    {
        "name": "order_by",
        "in": "query",
        "required": False,
        "description": "A field; -field for descending",
        "schema": {"type": "string"},
    },
    {
        "name": "watch",
        "in": "query",
        "required": False,
        "description": "true: answer text/event-stream, one event per committed change "
        "(docs/change-feeds.md); field=value filters apply, paging does not",
        "schema": {"type": "boolean"},
    },
    {
        "name": "since",
        "in": "query",
        "required": False,
        "description": "With watch=true: start after this seq (a list's seq, or an event's "
        "id); the Last-Event-ID header wins. Older than the kept history: 410",
        "schema": {"type": "integer", "minimum": 0},
    },
    {
        "name": "Last-Event-ID",
        "in": "header",
        "required": False,
        "description": "With watch=true: resume after this seq (EventSource sends it)",
        "schema": {"type": "string"},
    },
]

_WATCH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A list page, or with watch=true a stream of Server-Sent Events: "
        "`id: SEQ`, `event: change`, `data: CHANGE_EVENT`, and `: keep-alive` comments",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    410: {
        "model": ErrorReply,
        "description": "since is older than the kept history (error_type gone): list again",
    },
}


@dataclass(frozen=True)
class AppSpec:
    """What the application needs to know about its endpoint."""

    title: str
    collections: list[Collection]
    streams: list[str]
    send: SendRequest
    timeout: float
    max_body_bytes: int
    system: SystemView | None
    primary_store: str | None
    api_keys: bool = False
    #: Collection → how to open a watch of it (the collections whose store runs here).
    watches: Mapping[str, OpenWatch] = field(default_factory=dict)
    heartbeat_seconds: float = 15.0
    #: Whether the endpoint is stopping (watches then end).
    stopping: Callable[[], bool] = lambda: False


def _tenant(request: Request) -> str:
    tenant: str = request.scope.get(TENANT_KEY, "")
    return tenant


def _add_collection_routes(app: FastAPI, spec: AppSpec, collection: Collection) -> None:
    name, stream = collection.name, collection.stream
    send, timeout, limit = spec.send, spec.timeout, spec.max_body_bytes
    models = collection_models(collection)
    base = f"/{name}"
    item = f"/{name}/{{id}}"
    tags: list[str | Enum] = [name]

    async def create(request: Request) -> Response:
        data = await read_json_object(request, limit)
        message = {"action": "create", "collection": name, "tenant": _tenant(request), "data": data}
        reply = await send(stream, message, timeout)
        location = None
        if reply.get("status") == "success" and reply.get("id") is not None:
            location = f"{base}/{quote(str(reply['id']), safe='')}"
        return reply_response(reply, "create", location=location)

    async def list_records(request: Request) -> Response:
        if wants_watch(request.query_params):
            open_watch = spec.watches.get(name)
            if open_watch is None:
                return error_response(
                    501,
                    "unavailable",
                    f"collection {name!r} cannot be watched through this endpoint: its store "
                    f"{collection.store!r} does not run in this process",
                )
            return await watch_response(
                request,
                name,
                _tenant(request),
                open_watch,
                heartbeat_seconds=spec.heartbeat_seconds,
                stopping=spec.stopping,
            )
        message = list_message(name, _tenant(request), request.query_params)
        return reply_response(await send(stream, message, timeout), "list")

    async def get(request: Request) -> Response:
        message = {
            "action": "get",
            "collection": name,
            "tenant": _tenant(request),
            "id": request.path_params["id"],
        }
        return reply_response(await send(stream, message, timeout), "get")

    def writer(action: str) -> Callable[[Request], Awaitable[Response]]:
        async def write(request: Request) -> Response:
            version = expected_version(request.headers.get("if-match"))
            data = await read_json_object(request, limit)
            message: dict[str, Any] = {
                "action": action,
                "collection": name,
                "tenant": _tenant(request),
                "id": request.path_params["id"],
                "data": data,
            }
            if version is not None:
                message["expected_version"] = version
            return reply_response(await send(stream, message, timeout), action)

        return write

    async def delete(request: Request) -> Response:
        version = expected_version(request.headers.get("if-match"))
        message: dict[str, Any] = {
            "action": "delete",
            "collection": name,
            "tenant": _tenant(request),
            "id": request.path_params["id"],
        }
        if version is not None:
            message["expected_version"] = version
        return reply_response(await send(stream, message, timeout), "delete")

    record_params = {"parameters": [_ID_PARAMETER, _IF_MATCH, TENANT_PARAMETER]}
    app.router.add_api_route(
        base,
        create,
        methods=["POST"],
        status_code=201,
        response_model=models.reply,
        responses={**_ERRORS, 409: {"model": ErrorReply, "description": "The id exists"}},
        summary=f"Create a {name} record",
        tags=tags,
        openapi_extra={
            "parameters": [TENANT_PARAMETER],
            **request_body(models.create, "The record's fields (optionally its id)"),
        },
    )
    app.router.add_api_route(
        base,
        list_records,
        methods=["GET"],
        response_model=models.page,
        responses={**_ERRORS, **_WATCH_RESPONSES},
        summary=f"List {name} records, or watch their changes with watch=true "
        "(other query parameters filter: field=value)",
        tags=tags,
        openapi_extra={"parameters": _LIST_PARAMETERS},
    )
    app.router.add_api_route(
        item,
        get,
        methods=["GET"],
        response_model=models.reply,
        responses={**_ERRORS, **_NOT_FOUND},
        summary=f"Get a {name} record",
        tags=tags,
        openapi_extra={"parameters": [_ID_PARAMETER, TENANT_PARAMETER]},
    )
    for method, action, model, what in (
        ("PATCH", "update", models.update, "Fields to change (shallow merge)"),
        ("PUT", "replace", models.create, "The whole new record"),
    ):
        app.router.add_api_route(
            item,
            writer(action),
            methods=[method],
            response_model=models.reply,
            responses={**_ERRORS, **_NOT_FOUND},
            summary=f"{action.capitalize()} a {name} record",
            tags=tags,
            openapi_extra={**record_params, **request_body(model, what)},
        )
    app.router.add_api_route(
        item,
        delete,
        methods=["DELETE"],
        status_code=204,
        response_class=Response,
        responses={**_ERRORS, **_NOT_FOUND},
        summary=f"Delete a {name} record",
        tags=tags,
        openapi_extra=record_params,
    )


def _with_request_tenant(request: Request, message: dict[str, Any]) -> dict[str, Any]:
    """The body of ``POST /actions/{stream}`` as it goes over the binding: as sent, but for the
    tenant the request acts for, set as the message's top-level ``tenant``.

    A key bound to a tenant forces it (on the message and on each ``batch`` operation); a
    non-empty ``X-Tenant-ID`` fills it in when the body names none. Otherwise nothing is added.
    """
    if request.scope.get(FORCED_TENANT_KEY):
        tenant = request.scope.get(TENANT_KEY, "")
        message["tenant"] = tenant
        operations = message.get("operations")
        if isinstance(operations, list):
            for operation in operations:
                if isinstance(operation, dict):
                    operation["tenant"] = tenant
    elif "tenant" not in message and request.scope.get(TENANT_KEY):
        message["tenant"] = request.scope[TENANT_KEY]
    return message


def _add_action_route(app: FastAPI, spec: AppSpec) -> None:
    streams = set(spec.streams)
    send, timeout, limit = spec.send, spec.timeout, spec.max_body_bytes

    async def action(request: Request) -> Response:
        stream = request.path_params["stream_name"]
        if stream not in streams:
            known = ", ".join(sorted(streams)) or "none"
            return JSONResponse(
                {"status": "not_found", "message": f"no stream {stream!r}; streams: {known}"},
                status_code=404,
            )
        message = _with_request_tenant(request, await read_json_object(request, limit))
        reply = await send(stream, message, timeout)
        return reply_response(reply, str(message.get("action", "")))

    app.router.add_api_route(
        "/actions/{stream_name}",
        action,
        methods=["POST"],
        responses={**_ERRORS, 404: {"model": NotFoundReply, "description": "No such stream"}},
        summary="Send an action message over a binding; the reply is the receiver's",
        tags=["actions"],
        openapi_extra={
            "parameters": [
                {
                    "name": "stream_name",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                }
            ],
            **request_body(dict[str, Any], 'An action message, e.g. {"action": "list"}'),
        },
    )


def _add_probe_routes(app: FastAPI, spec: AppSpec) -> None:
    system, primary = spec.system, spec.primary_store

    async def health(request: Request) -> Response:
        if system is None:
            return JSONResponse({"status": "ok", "components": {}})
        healthy, body = system_health(system, primary)
        return JSONResponse(body, status_code=200 if healthy else 503)

    async def ready(request: Request) -> Response:
        if system is None:
            return JSONResponse({"status": "ready"})
        is_ready, body = readiness(system)
        return JSONResponse(body, status_code=200 if is_ready else 503)

    for path, endpoint, summary in (("/health", health, "Health"), ("/ready", ready, "Readiness")):
        app.router.add_api_route(
            path,
            endpoint,
            methods=["GET"],
            tags=["probes"],
            summary=summary,
        )


def _methods_for(app: FastAPI, path: str) -> list[str]:
    """Every method some route serves at ``path`` (each route here has one method)."""
    methods: set[str] = set()
    for route in app.router.routes:
        if isinstance(route, Route) and route.path_regex.match(path):
            methods |= route.methods or set()
    return sorted(methods)


def _add_error_handlers(app: FastAPI) -> None:
    async def rejected(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestRejected)
        return error_response(exc.code, exc.error_type, exc.message)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return JSONResponse(
                {"status": "not_found", "message": f"no route {request.url.path}"},
                status_code=404,
            )
        if exc.status_code == 405:
            allowed = _methods_for(app, request.url.path)
            return error_response(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed on this route; allowed: {', '.join(allowed)}",
                headers={"allow": ", ".join(allowed)},
            )
        return error_response(
            exc.status_code, "validation_error", str(exc.detail), headers=exc.headers
        )

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        )
        return error_response(422, "validation_error", problems or "invalid request")

    async def crashed(request: Request, exc: Exception) -> Response:
        # The middleware logs the traceback; the client gets no more than the request id.
        request_id = request.scope.get(REQUEST_ID_KEY, "")
        return error_response(
            500, "internal", f"internal error; the log has details (request {request_id})"
        )

    app.add_exception_handler(RequestRejected, rejected)
    app.add_exception_handler(Exception, crashed)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)


def _served(endpoint: Callable[[Request], Awaitable[Response]], template: str) -> Any:
    async def serve(request: Request) -> Response:
        request.scope[ROUTE_KEY] = template  # the ``route`` label of the request's metrics
        return await endpoint(request)

    setattr(serve, _DIRECT, True)
    return serve


class DirectApp:
    """The endpoint's ASGI app: its own routes (collections, actions, probes) served straight
    from their endpoints, every other request (docs, OpenAPI, 404, 405) by the FastAPI app.

    Through the FastAPI app the same endpoint runs under seven layers of middleware and a
    router loop, which these routes do not use: they take the ``Request`` and return the
    ``Response`` themselves, the only exception they raise on purpose (``RequestRejected``)
    is answered here as the app's handler answers it, and the endpoint's middleware answers
    any other with 500. A path that matches a route only by its path (another method) goes to
    the app, which answers 405.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.router = app.router
        self._routes: list[tuple[Route, Callable[[Request], Awaitable[Response]]]] = [
            (route, route.endpoint)
            for route in app.router.routes
            if isinstance(route, Route) and getattr(route.endpoint, _DIRECT, False)
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route, endpoint in self._routes:
                match, child = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child)
                    scope["app"] = self.app  # as Starlette's app and router set them
                    scope.setdefault("router", self.router)
                    try:
                        response = await endpoint(Request(scope, receive, send))
                    except RequestRejected as exc:
                        response = error_response(exc.code, exc.error_type, exc.message)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


#: Set on the endpoints ``DirectApp`` may serve without the FastAPI app around them.
_DIRECT = "autocoder_direct"


def _serve_directly(app: FastAPI) -> None:
    """Serve every route above with a plain Starlette ``Route`` calling its endpoint.

    Serving a request, FastAPI's ``APIRoute`` solves dependencies, validates parameters and
    serializes the return value. These endpoints take the ``Request`` and return the response
    themselves (the store validates, orjson encodes), so the ``APIRoute``s are kept only to
    describe the API: ``/openapi.json`` is generated from them (``get_openapi``, FastAPI's
    documented way to shape the schema), and the router serves Starlette routes in their place.
    """
    documented: list[BaseRoute] = []
    served: list[BaseRoute] = []
    for route in app.router.routes:
        # The docs pages' own routes (left out of the schema) stay as FastAPI serves them.
        if isinstance(route, APIRoute) and route.include_in_schema:
            documented.append(route)
            route = Route(
                route.path,
                _served(route.endpoint, route.path),
                methods=sorted(route.methods or ()),
                name=route.name,
                include_in_schema=False,
            )
        served.append(route)
    app.router.routes[:] = served

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=documented,
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def build_app(spec: AppSpec) -> FastAPI:
    """The FastAPI application serving ``spec``'s collections, actions and probes."""
    # /docs and /redoc load their JavaScript and CSS from the endpoint itself (fastapi-offline
    # ships them), not from a CDN: they work where there is no internet access.
    app = FastAPIOffline(
        static_url=DOCS_ASSETS,
        title=spec.title,
        version="1",
        default_response_class=JSONResponse,
        description="Records of every bound store, by collection, and action messages.",
        # The endpoint's middleware makes the one server span per request, with attributes
        # that hold no record data; FastAPI's own would add a second, with the raw path.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    _add_error_handlers(app)
    for collection in spec.collections:
        _add_collection_routes(app, spec, collection)
    _add_action_route(app, spec)
    _add_probe_routes(app, spec)
    _serve_directly(app)
    if spec.api_keys:
        document_api_keys(app)
    return app

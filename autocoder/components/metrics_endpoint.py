"""MetricsEndpoint: the system's Prometheus metrics and health over HTTP (docs/metrics.md).

::

    - name: metrics
      type: MetricsEndpoint
      config: {host: 127.0.0.1, port: 9090, path: /metrics}

``GET {path}`` serves every family of the system's registry in the Prometheus text format;
``GET /health`` the system health (200 ``ok`` or 503 ``degraded``). A tiny ASGI app served by
uvicorn in the runtime's event loop, like FastAPIEndpoint. Nothing may be bound into it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field, field_validator
from starlette.responses import Response

from autocoder.http.health import system_health
from autocoder.http.served import ServedComponent
from autocoder.http.status import JSONResponse, error_response
from autocoder.runtime.component import ComponentConfig, ComposedComponent

__all__ = ["MetricsApp", "MetricsEndpoint", "MetricsEndpointConfig"]


class MetricsEndpointConfig(ComponentConfig):
    """Configuration of a MetricsEndpoint."""

    host: str = Field(default="127.0.0.1", min_length=1, description="Address to listen on.")
    port: int = Field(
        default=9090, ge=0, le=65535, description="TCP port (0: any free port, for tests)."
    )
    path: str = Field(default="/metrics", description="Path of the Prometheus text.")

    @field_validator("path")
    @classmethod
    def _path_is_absolute(cls, value: str) -> str:
        if not value.startswith("/") or value == "/health" or any(c in value for c in "?# "):
            raise ValueError("path must start with '/', not be '/health', and hold no '?', '#'")
        return value


class MetricsApp:
    """The ASGI application: ``{path}`` → Prometheus text, ``/health`` → system health."""

    def __init__(self, component: ComposedComponent, path: str) -> None:
        self.component = component
        self.path = path

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        response: Any
        if path not in (self.path, "/health"):
            response = JSONResponse(
                {"status": "not_found", "message": f"no route {path}; try {self.path}"},
                status_code=404,
            )
        elif method not in ("GET", "HEAD"):
            response = error_response(
                405,
                "method_not_allowed",
                f"{method} is not allowed",
                headers={"allow": "GET, HEAD"},
            )
        elif path == self.path:
            response = self._metrics()
        else:
            response = self._health()
        await response(scope, receive, send)

    def _metrics(self) -> Response:
        metrics = self.component.metrics
        body = generate_latest(metrics.registry) if metrics is not None else b""
        return Response(body, headers={"content-type": CONTENT_TYPE_LATEST})

    def _health(self) -> JSONResponse:
        system = self.component.system
        if system is None:
            return JSONResponse({"status": "ok", "components": {}})
        healthy, body = system_health(system)
        return JSONResponse(body, status_code=200 if healthy else 503)


class MetricsEndpoint(ServedComponent):
    """Prometheus metrics of the whole system, and its health, over HTTP."""

    Config: ClassVar[type[BaseModel]] = MetricsEndpointConfig
    description: ClassVar[str] = "Prometheus metrics (text format) and health of the whole system."
    # Its families are one process's counters: with --workers each worker serves its own.
    port_per_worker: ClassVar[bool] = True

    def __init__(self, name: str, config: Any = None, **kwargs: Any) -> None:
        super().__init__(name, config, **kwargs)
        self.config: MetricsEndpointConfig

    def urls(self) -> list[str]:
        return [self.base_url + self.config.path]

    def serving_details(self) -> dict[str, Any]:
        return {"path": self.config.path}

    async def start(self) -> None:
        self.serve_app(MetricsApp(self, self.config.path), graceful_seconds=5)

"""FastAPIEndpoint: an HTTP API for every collection of the stores bound from it (docs/http-api.md).

::

    - name: task_api
      type: FastAPIEndpoint
      config: {host: 127.0.0.1, port: 8000, request_timeout: 10, max_body_bytes: 1048576,
               api_keys: [secret-1, {key: secret-2, tenant: acme}],
               access_log: true, cors_origins: [https://app.example.com]}

``setup()`` binds the listening socket, so a port already taken stops start-up with a one-line
cause. ``start()`` (once the stores serve) asks every bound receiver that serves collections
for them (``describe``) and builds the FastAPI application (``autocoder.http.routes``); a clash
there stops start-up too. ``run()`` serves it with uvicorn in the runtime's event loop until
``stop_accepting()``; requests in flight then complete before ``run()`` returns.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr

from autocoder.http.auth import KeyRing
from autocoder.http.cors import with_cors
from autocoder.http.discovery import Collection, discover
from autocoder.http.middleware import EndpointMiddleware
from autocoder.http.routes import AppSpec, DirectApp, build_app
from autocoder.http.served import ServedComponent
from autocoder.http.watch import OpenWatch
from autocoder.runtime.component import ComponentConfig
from autocoder.store.feed import Subscription

__all__ = ["ApiKey", "FastAPIEndpoint", "FastAPIEndpointConfig"]

_ORIGIN = re.compile(r"\*|https?://[^/\s?#]+")


def _origin(origin: str) -> str:
    if not _ORIGIN.fullmatch(origin):
        raise ValueError(
            f"{origin!r} is not an origin: write scheme://host[:port] with no path "
            "(e.g. https://app.example.com), or * for any origin"
        )
    return origin


#: A browser origin as CORS compares it, or ``*``.
Origin = Annotated[str, AfterValidator(_origin)]


class ApiKey(BaseModel):
    """An API key bound to a tenant: requests with it act for that tenant only."""

    model_config = ConfigDict(extra="forbid")

    key: SecretStr = Field(min_length=1, description="The key clients send.")
    tenant: str | None = Field(
        default=None, description="The tenant this key forces; none: X-Tenant-ID decides."
    )


class FastAPIEndpointConfig(ComponentConfig):
    """Configuration of a FastAPIEndpoint."""

    host: str = Field(default="127.0.0.1", min_length=1, description="Address to listen on.")
    port: int = Field(
        default=8000, ge=0, le=65535, description="TCP port (0: any free port, for tests)."
    )
    request_timeout: float = Field(
        default=10.0, gt=0, description="Seconds to wait for a store's reply (then 504)."
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1, description="Largest request body accepted (else 413)."
    )
    api_keys: list[SecretStr | ApiKey] = Field(
        default_factory=list,
        description="Keys (strings or {key, tenant}); empty: no authentication.",
    )
    access_log: bool = Field(
        default=True,
        description="One info line per request (method, route, status, duration_ms, request_id).",
    )
    heartbeat_seconds: float = Field(
        default=15.0,
        gt=0,
        description="Seconds between ': keep-alive' comments on an idle watch (?watch=true).",
    )
    cors_origins: list[Origin] = Field(
        default_factory=list,
        description="Browser origins allowed to call the API (https://host[:port], or *); "
        "empty: no CORS headers.",
    )

    def key_ring(self) -> KeyRing:
        """The configured keys with the tenant each forces."""
        pairs: list[tuple[str, str | None]] = []
        for entry in self.api_keys:
            if isinstance(entry, ApiKey):
                pairs.append((entry.key.get_secret_value(), entry.tenant))
            else:
                pairs.append((entry.get_secret_value(), None))
        return KeyRing(pairs)


class FastAPIEndpoint(ServedComponent):
    """HTTP API (FastAPI on uvicorn) over the collections of its bound stores."""

    Config: ClassVar[type[BaseModel]] = FastAPIEndpointConfig
    description: ClassVar[str] = (
        "HTTP API (FastAPI on uvicorn): REST routes for every collection of its bound stores."
    )
    describes_receivers: ClassVar[bool] = True

    def __init__(self, name: str, config: Any = None, **kwargs: Any) -> None:
        super().__init__(name, config, **kwargs)
        self.config: FastAPIEndpointConfig
        self._collections: list[str] = []

    def _watches(self, collections: list[Collection]) -> dict[str, OpenWatch]:
        """How to watch each collection whose store runs in this process (``open_watch``)."""
        # ``find``: the stores as the system runs them, or as the reload starting this is
        # about to run them.
        find = getattr(self.system, "find", None)
        watches: dict[str, OpenWatch] = {}
        for collection in collections:
            store = find(collection.store) if find is not None else None
            opener = getattr(store, "open_watch", None)
            if callable(opener):

                def open_watch(
                    name: str,
                    since: int | None,
                    tenant: str,
                    where: dict[str, Any],
                    opener: Any = opener,
                ) -> Awaitable[Subscription]:
                    result: Awaitable[Subscription] = opener(name, since, where, tenant)
                    return result

                watches[collection.name] = open_watch
        return watches

    def urls(self) -> list[str]:
        return [f"{self.base_url} (docs: /docs)"]

    def serving_details(self) -> dict[str, Any]:
        return {"collections": self._collections}

    async def start(self) -> None:
        """Ask every bound store for its collections and build the application."""
        receivers = {name: out.receivers for name, out in self.send_streams.items()}
        collections = await discover(self.send_streams, self.config.request_timeout)
        # /health shows the first store's health first (docs/http-api.md: the first bound store).
        first = collections[0].stream if collections else next(iter(receivers), None)
        app = build_app(
            AppSpec(
                title=f"{self.name} API",
                collections=collections,
                streams=list(self.send_streams),
                send=self.request,
                timeout=self.config.request_timeout,
                max_body_bytes=self.config.max_body_bytes,
                system=self.system,
                primary_store=receivers[first][0] if first is not None else None,
                api_keys=bool(self.config.api_keys),
                watches=self._watches(collections),
                heartbeat_seconds=self.config.heartbeat_seconds,
                stopping=self.stopped_accepting().is_set,
            )
        )
        asgi = EndpointMiddleware(
            DirectApp(app),
            component=self.name,
            keys=self.config.key_ring(),
            metrics=self.metrics,
            log=self.log,
            router=app.router,
            access_log=self.config.access_log,
            tracer=self.tracing.tracer if self.tracing is not None else None,
        )
        self.serve_app(
            with_cors(asgi, self.config.cors_origins),
            graceful_seconds=self.config.request_timeout + 1,
        )
        self._collections = [c.name for c in collections]

"""API keys and tenants: who may call, and whose records they see.

With no keys configured every request is allowed and the tenant comes from ``X-Tenant-ID``
(default ``""``). With keys, a request must present one as ``Authorization: Bearer KEY`` or
``X-API-Key: KEY``; a key bound to a tenant forces that tenant whatever ``X-Tenant-ID`` says,
and a key without one lets the client choose with ``X-Tenant-ID``.

Keys are compared in constant time and never logged, echoed or put in an error message.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from autocoder.errors import Unauthorized

__all__ = [
    "DOCS_ASSETS",
    "OPEN_PATHS",
    "Credentials",
    "KeyRing",
    "credentials_from_headers",
    "is_docs_asset",
    "is_open",
]

#: Paths served without a key (probes and API descriptions).
OPEN_PATHS = frozenset(
    {"/health", "/ready", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
)
#: Where the docs pages' own JavaScript, CSS and icon are served (open, like the pages).
DOCS_ASSETS = "/docs/assets"
_DOCS_ASSETS_PREFIX = DOCS_ASSETS + "/"


def is_open(path: str) -> bool:
    """Whether ``path`` is served without a key: probes, API descriptions and their assets."""
    return path in OPEN_PATHS or is_docs_asset(path)


def is_docs_asset(path: str) -> bool:
    """Whether ``path`` is one of the docs pages' assets."""
    return path.startswith(_DOCS_ASSETS_PREFIX)


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a request presented: the key (if any) and ``X-Tenant-ID`` (if any)."""

    key: str | None
    tenant_header: str | None


class KeyRing:
    """The configured keys, each with the tenant it forces (``None``: client's choice)."""

    def __init__(self, keys: Iterable[tuple[str, str | None]]) -> None:
        self._keys: list[tuple[bytes, str | None]] = [(k.encode(), t) for k, t in keys]

    @property
    def enabled(self) -> bool:
        """Whether requests need a key at all."""
        return bool(self._keys)

    def tenant_for(self, credentials: Credentials) -> tuple[str, bool]:
        """``(tenant, forced)`` for a request; ``Unauthorized`` when a key is missing or wrong.

        ``forced`` is true when the key fixes the tenant (the request cannot choose another).
        """
        if not self._keys:
            return credentials.tenant_header or "", False
        if credentials.key is None:
            raise Unauthorized(
                "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
            )
        presented = credentials.key.encode()
        found = False
        forced: str | None = None
        # Compare against every key so timing does not reveal which one matched.
        for key, tenant in self._keys:
            if hmac.compare_digest(presented, key) and not found:
                found = True
                forced = tenant
        if not found:
            raise Unauthorized("the API key is not valid")
        if forced is not None:
            return forced, True
        return credentials.tenant_header or "", False


def credentials_from_headers(headers: Iterable[tuple[bytes, bytes]]) -> Credentials:
    """Read the key and tenant from raw ASGI headers (names are lower-case bytes)."""
    key: str | None = None
    tenant: str | None = None
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                key = token.strip()
        elif name == b"x-api-key":
            if key is None:
                key = value.decode("latin-1").strip() or None
        elif name == b"x-tenant-id":
            tenant = value.decode("latin-1").strip()
    return Credentials(key, tenant)

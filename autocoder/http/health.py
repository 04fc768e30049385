"""The health and readiness of a running system, as ``/health`` and ``/ready`` report them.

Both endpoints (FastAPIEndpoint and MetricsEndpoint) answer from here, so a probe gets the same
answer from either. A component whose ``get_health_status()`` raises counts as unhealthy; the
error is reported by class name only, so no secret can leak through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from autocoder.runtime.component import ComposedComponent

__all__ = ["SystemView", "component_health", "readiness", "system_health"]


class SystemView(Protocol):
    """What the endpoints need of the running System."""

    @property
    def components(self) -> Mapping[str, ComposedComponent]: ...

    @property
    def running(self) -> bool: ...

    def waiting_for(self) -> list[str]: ...


def component_health(component: ComposedComponent) -> dict[str, Any]:
    """``component.health_status()``, or an ``unhealthy`` entry when it raises."""
    try:
        health = component.health_status()
    except Exception as exc:
        return {"status": "unhealthy", "error": f"health check failed: {type(exc).__name__}"}
    return dict(health)


def _is_healthy(health: Mapping[str, Any]) -> bool:
    return (
        health.get("status") in ("healthy", "ok")
        and health.get("store_connected") is not False
        and health.get("transport_connected") is not False
    )


def system_health(system: SystemView, primary: str | None = None) -> tuple[bool, dict[str, Any]]:
    """``(healthy, body)`` for ``GET /health``.

    ``body`` is ``{"status": "ok"|"degraded", "health": <primary's health>, "components":
    {name: health}}``; ``health`` is present only when ``primary`` names a component.
    """
    components = {name: component_health(c) for name, c in system.components.items()}
    healthy = all(_is_healthy(h) for h in components.values())
    body: dict[str, Any] = {"status": "ok" if healthy else "degraded"}
    if primary is not None and primary in components:
        body["health"] = components[primary]
    body["components"] = components
    return healthy, body


def readiness(system: SystemView) -> tuple[bool, dict[str, Any]]:
    """``(ready, body)`` for ``GET /ready``: every component set up, every store and every
    nats binding connected."""
    waiting = system.waiting_for()
    ready = system.running and not waiting
    body: dict[str, Any] = {"status": "ready" if ready else "not_ready"}
    if waiting:
        body["waiting_for"] = waiting
    return ready, body

"""Reload (docs/operations.md): what changes when a running system re-reads its blueprint.

``plan_reload(running, new)`` compares the blueprint a System runs with the one just read.
A component is *kept* when its type, config, restart policy, dead-letter stream and streams
(names, buffer sizes, transports) are the same: it runs on untouched, its state with it (a
memory Store keeps its records; a new sender bound to one of its input streams joins that
stream). A component that is new is *added*, one that is gone *removed*, any other *changed*:
drained and replaced. A component that asked its receivers for their collections when it
started (``describes_receivers``: an endpoint) is changed too when one of them is added,
removed or replaced, so that it serves what they serve now.

Refused with the reason (``ReloadRefused``), changing nothing: another system name, and any
change to ``system.nats``, to a nats binding or to a component bound over nats, for those
bindings are made once, when the process starts. ``System.reload`` applies a plan;
``reload_logged`` reads the file, applies it, logs and counts the outcome; ``watch_file`` is
``autocoder run --watch``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import anyio
import structlog

from autocoder.blueprint.loader import LoadedBlueprint, LoadedComponent
from autocoder.errors import BlueprintError, ReloadRefused, StartupError, UsageError
from autocoder.observability.metrics import SystemMetrics

__all__ = [
    "Plan",
    "ReadBlueprint",
    "plan_reload",
    "reload_logged",
    "watch_file",
    "watch_file_blocking",
]

log = structlog.get_logger("autocoder")

#: Milliseconds ``--watch`` waits for a file to settle: an editor's save is several writes.
WATCH_DEBOUNCE_MS = 200


@dataclass(frozen=True)
class Plan:
    """The names of a reload's components, each in blueprint order."""

    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    kept: tuple[str, ...]


def plan_reload(running: LoadedBlueprint, new: LoadedBlueprint) -> Plan:
    """What reloading ``new`` over ``running`` changes (``ReloadRefused`` when it cannot)."""
    before, after = running.blueprint.system, new.blueprint.system
    if before.name != after.name:
        raise ReloadRefused(
            f"the system name changed from {before.name!r} to {after.name!r}; "
            "restart the process to rename it"
        )
    old = {item.spec.name: item for item in running.components}
    fresh = {item.spec.name: item for item in new.components}
    added = [name for name in fresh if name not in old]
    removed = [name for name in old if name not in fresh]
    changed = [
        name
        for name in fresh
        if name in old and _signature(running, old[name]) != _signature(new, fresh[name])
    ]
    replaced = set(added) | set(changed)
    for name, item in fresh.items():
        if name in old and name not in replaced and item.cls.describes_receivers:
            receivers_then, receivers_now = _receivers(running, name), _receivers(new, name)
            if receivers_then != receivers_now or receivers_now & replaced:
                changed.append(name)
    _refuse_nats_changes(running, new, [*added, *changed, *removed])
    changed_set = set(changed)
    return Plan(
        added=tuple(added),
        changed=tuple(name for name in fresh if name in changed_set),
        removed=tuple(removed),
        kept=tuple(name for name in fresh if name in old and name not in changed_set),
    )


def _signature(loaded: LoadedBlueprint, item: LoadedComponent) -> tuple[object, ...]:
    """What a component must keep to be kept."""
    name = item.spec.name
    bindings = loaded.blueprint.system.bindings
    receives = frozenset(
        (b.stream_name, b.buffer_size, b.transport) for b in bindings if b.to_component == name
    )
    sends = frozenset((b.stream_name, b.transport) for b in bindings if b.from_component == name)
    spec = item.spec
    return (item.cls, item.config, spec.restart, spec.dead_letters, receives, sends)


def _receivers(loaded: LoadedBlueprint, sender: str) -> frozenset[str]:
    return frozenset(
        b.to_component for b in loaded.blueprint.system.bindings if b.from_component == sender
    )


def _refuse_nats_changes(
    running: LoadedBlueprint, new: LoadedBlueprint, touched: list[str]
) -> None:
    def nats(loaded: LoadedBlueprint) -> list[str]:
        bindings = loaded.blueprint.system.bindings
        return sorted(b.model_dump_json() for b in bindings if b.transport == "nats")

    how = "nats bindings are made when the process starts: restart it to change them"
    if running.blueprint.system.nats != new.blueprint.system.nats:
        raise ReloadRefused(f"system.nats changed; {how}")
    if nats(running) != nats(new):
        raise ReloadRefused(f"the nats bindings changed; {how}")
    ends = {
        end
        for b in running.blueprint.system.bindings
        if b.transport == "nats"
        for end in (b.from_component, b.to_component)
    }
    bound = [name for name in touched if name in ends]
    if bound:
        raise ReloadRefused(
            f"{', '.join(map(repr, bound))} would change, and is bound over nats; {how}"
        )


#: How a process reads its blueprint again: the file, restricted and adjusted as at start-up.
ReadBlueprint = Callable[[], LoadedBlueprint]


class Reloads(Protocol):
    """What ``reload_logged`` needs of a System."""

    metrics: SystemMetrics

    async def reload(self, loaded: LoadedBlueprint) -> Plan: ...


async def reload_logged(system: Reloads, read: ReadBlueprint, by: str) -> bool:
    """Read the blueprint again and apply it; logged as ``reloaded`` (the names added,
    changed and removed) or ``reload_failed`` (every problem as ``FILE:LINE:COL``, or the
    reason), counted in ``autocoder_reloads_total{result}``. Whether it succeeded."""
    try:
        plan = await system.reload(read())
    except BlueprintError as exc:
        log.error("reload_failed", by=by, problems=[str(p) for p in exc.problems])
    except (ReloadRefused, UsageError, StartupError) as exc:
        log.error("reload_failed", by=by, error=str(exc))
    except Exception as exc:  # a bug: say so, and keep serving
        log.error("reload_failed", by=by, error=f"internal error: {exc!r}", exc_info=exc)
    else:
        system.metrics.reloads.labels("success").inc()
        log.info(
            "reloaded",
            by=by,
            added=list(plan.added),
            changed=list(plan.changed),
            removed=list(plan.removed),
        )
        return True
    system.metrics.reloads.labels("failure").inc()
    return False


async def watch_file(path: str, changed: Callable[[], None], stop: anyio.Event) -> None:
    """Call ``changed()`` each time the file at ``path`` is written, replaced or created,
    until ``stop`` is set (set it before cancelling: the watching thread sees only that).

    The directory is watched, not the file: an editor that saves by writing a new file and
    renaming it over the old one replaces the file a watch would follow.
    """
    from watchfiles import awatch

    directory, is_target = _watched(path)
    async for _ in awatch(
        directory,
        watch_filter=is_target,
        debounce=WATCH_DEBOUNCE_MS,
        recursive=False,
        stop_event=stop,
    ):
        changed()


def watch_file_blocking(path: str, changed: Callable[[], None], stop: threading.Event) -> None:
    """``watch_file`` in a thread of its own, until ``stop`` is set (``--workers``' parent)."""
    from watchfiles import watch

    directory, is_target = _watched(path)
    for _ in watch(
        directory,
        watch_filter=is_target,
        debounce=WATCH_DEBOUNCE_MS,
        recursive=False,
        stop_event=stop,
    ):
        changed()


def _watched(path: str) -> tuple[str, Callable[[object, str], bool]]:
    target = os.path.realpath(path)

    def is_target(_change: object, changed_path: str) -> bool:
        return os.path.realpath(changed_path) == target

    return os.path.dirname(target), is_target

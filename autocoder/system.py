"""System: a blueprint's components, wired and supervised; the Python API of SPEC section 9.

::

    async with System.from_file("blueprint.yaml") as system:   # set up and serving
        store = system.components["task_store"]
        reply = await store.process_item({"action": "create", "data": {"title": "x"}})
    # leaving the block drains and cleans up

``run_blueprint`` is the body of ``autocoder run``: it adds signal handling (the first
SIGINT/SIGTERM drains, a second exits at once) and prints each component's URLs.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import anyio
import structlog
from anyio.abc import TaskGroup

from autocoder.blueprint.model import Binding
from autocoder.logging import LogFormat, configure_logging
from autocoder.observability.metrics import SystemMetrics
from autocoder.runtime.component import ComposedComponent
from autocoder.runtime.deadlines import Deadlines
from autocoder.runtime.supervisor import Supervisor
from autocoder.runtime.wiring import wire

if TYPE_CHECKING:
    from autocoder.blueprint.loader import LoadedBlueprint

log = structlog.get_logger("autocoder")

DEFAULT_SHUTDOWN_TIMEOUT = 10.0
GC_GEN0_THRESHOLD = 50_000


class System:
    """Components bound by streams, run under one supervisor."""

    def __init__(
        self,
        name: str,
        components: Sequence[ComposedComponent],
        bindings: Sequence[Binding] = (),
        *,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
    ) -> None:
        self.name = name
        self.components: dict[str, ComposedComponent] = {c.name: c for c in components}
        self.bindings = list(bindings)
        self.shutdown_timeout = shutdown_timeout
        self.metrics = SystemMetrics()
        for component in components:
            component.metrics = self.metrics
            component.system = self
        self.deadlines = Deadlines()
        wire(self.components, self.bindings, self.metrics, self.deadlines)
        self._register_gauges()
        self._supervisor: Supervisor | None = None
        self._task_group: TaskGroup | None = None

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def from_loaded(cls, loaded: LoadedBlueprint) -> Self:
        components = [
            item.cls(item.spec.name, item.config, restart=item.spec.restart)
            for item in loaded.components
        ]
        for item, component in zip(loaded.components, components, strict=True):
            component.type_name = item.spec.type
        spec = loaded.blueprint.system
        return cls(spec.name, components, spec.bindings, shutdown_timeout=spec.shutdown_timeout)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
    ) -> Self:
        """Load and validate a blueprint file (``BlueprintError`` lists every problem)."""
        from autocoder.blueprint.loader import load_blueprint

        return cls.from_loaded(load_blueprint(path, environ=environ))

    @classmethod
    def from_text(
        cls, text: str, filename: str = "<string>", *, environ: Mapping[str, str] | None = None
    ) -> Self:
        from autocoder.blueprint.loader import load_blueprint_text

        return cls.from_loaded(load_blueprint_text(text, filename, environ=environ))

    def _register_gauges(self) -> None:
        def up() -> Any:
            for component in self.components.values():
                healthy = component.is_set_up and component.healthy
                yield (component.name, component.type_name), 1.0 if healthy else 0.0

        def buffers() -> Any:
            for component in self.components.values():
                for name, inbound in component.receive_streams.items():
                    yield (component.name, name), float(inbound.buffer_used())

        self.metrics.component_up.sources.append(up)
        self.metrics.stream_buffer_used.sources.append(buffers)

    # -- state -----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._supervisor is not None and self._supervisor.running

    def waiting_for(self) -> list[str]:
        """Components not yet set up, or stores not connected (``/ready`` lists them)."""
        waiting = []
        for name, component in self.components.items():
            if not component.is_set_up:
                waiting.append(name)
                continue
            try:
                connected = component.get_health_status().get("store_connected")
            except Exception:  # a failing health check is unhealthy, not "not ready"
                continue
            if connected is False:
                waiting.append(name)
        return waiting

    def is_ready(self) -> bool:
        """Every component set up and serving, and every store connected."""
        return self.running and not self.waiting_for()

    # -- running ---------------------------------------------------------------------------

    def request_shutdown(self) -> None:
        """Begin a graceful shutdown: stop accepting, drain, clean up."""
        if self._supervisor is not None:
            self._supervisor.request_shutdown()

    async def serve(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        """Set up, serve until ``request_shutdown()``, drain and clean up."""
        self._supervisor = Supervisor(list(self.components.values()), self.shutdown_timeout)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.deadlines.run)
            try:
                await self._supervisor.run(task_status=task_status)
            finally:
                tg.cancel_scope.cancel()

    async def __aenter__(self) -> Self:
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        try:
            await self._task_group.start(self.serve)
        except BaseException as exc:
            try:
                await self._task_group.__aexit__(type(exc), exc, exc.__traceback__)
            except BaseException as group:
                raise single_exception(group)  # noqa: B904 - keeps its own __cause__
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        self.request_shutdown()
        assert self._task_group is not None
        try:
            return await self._task_group.__aexit__(exc_type, exc, tb)
        except BaseException as group:
            raise single_exception(group)  # noqa: B904 - keeps its own __cause__


def single_exception(exc: BaseException) -> BaseException:
    """The one exception inside (nested) single-member exception groups, else ``exc``."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


BannerRow = tuple[str, str, list[str]]


def banner_rows(system: System) -> list[BannerRow]:
    """Each component's name, type and URLs, in blueprint order (the start banner's lines)."""
    return [(name, c.type_name, c.urls()) for name, c in system.components.items()]


def print_start_banner(
    name: str, rows: Sequence[BannerRow], out: Any = None, note: str = ""
) -> None:
    """``autocoder: system 'NAME' is up``, then one line per component with its URLs."""
    out = out or sys.stdout
    print(f"autocoder: system {name!r} is up{note}", file=out)
    width = max(len(row[0]) for row in rows)
    for component, type_name, urls in rows:
        print(f"  {component:<{width}}  {type_name:<16} {'  '.join(urls)}".rstrip(), file=out)
    out.flush()


class _OnStarted:
    """A task status that, once every component serves, tunes the collector and says so."""

    def __init__(self, system: System, announce: Callable[[System], None]) -> None:
        self.system = system
        self.announce = announce

    def started(self, value: object = None) -> None:
        tune_garbage_collector()
        self.announce(self.system)


def _print_banner_of(system: System) -> None:
    print_start_banner(system.name, banner_rows(system))


def tune_garbage_collector() -> None:
    """Keep full collections off the request path of a long-running server process.

    Requests that wait on a store keep their objects alive across event-loop turns, so with
    Python's default thresholds the collector ran full passes over the whole heap: 16 passes of
    about 55 ms in 4 s under load, which was the HTTP endpoint's p99. Objects made during
    start-up are frozen out of collection, and young collections run less often.
    """
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 20, 100)


async def serve_until_signalled(
    system: System,
    announce: Callable[[System], None] = _print_banner_of,
    stop_when: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Serve ``system`` until SIGINT/SIGTERM (or until ``stop_when()`` returns), then drain.

    ``announce(system)`` runs once every component serves (by default: the start banner). A
    second signal exits the process at once.
    """
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with anyio.create_task_group() as tg:

            async def watch_signals() -> None:
                count = 0
                async for signum in signals:
                    count += 1
                    if count == 1:
                        log.info("shutdown_requested", signal=signal.Signals(signum).name)
                        system.request_shutdown()
                    else:
                        log.warning("second_signal_exiting_now")
                        os._exit(1)

            async def watch_stop() -> None:
                assert stop_when is not None
                await stop_when()
                log.info("shutdown_requested", by="supervisor")
                system.request_shutdown()

            tg.start_soon(watch_signals)
            if stop_when is not None:
                tg.start_soon(watch_stop)
            try:
                await system.serve(task_status=_OnStarted(system, announce))
            finally:
                tg.cancel_scope.cancel()


def run_blueprint(
    path: str | os.PathLike[str],
    *,
    log_format: LogFormat | None = None,
    log_level: str = "info",
) -> int:
    """``autocoder run``: serve the blueprint until signalled; the process exit code."""
    configure_logging(log_format, log_level)
    system = System.from_file(Path(path))
    try:
        anyio.run(serve_until_signalled, system, backend_options=backend_options())
    except BaseException as exc:
        raise single_exception(exc)  # noqa: B904 - keeps its own __cause__
    return 0


def backend_options() -> dict[str, Any]:
    """The event loop of ``autocoder run``: uvloop where it is installed."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return {}
    return {"use_uvloop": True}

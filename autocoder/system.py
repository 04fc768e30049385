"""System: a blueprint's components, wired and supervised; the Python API of docs/user-guide.md.

::

    async with System.from_file("blueprint.yaml") as system:   # set up and serving
        store = system.components["task_store"]
        reply = await store.process_item({"action": "create", "data": {"title": "x"}})
    # leaving the block drains and cleans up

``run_blueprint`` is the body of ``autocoder run``: it adds signal handling (the first
SIGINT/SIGTERM drains, a second exits at once; SIGHUP, and with ``--watch`` a change of the
file, reloads the blueprint) and prints each component's URLs.

``System.reload`` applies a new blueprint to the running system (``autocoder.reload`` plans
what changes), in this order, so that no request is refused or lost:

1. build the added and changed components and wire their streams: a new sender of a kept
   receiver joins its stream; an endpoint replacing one on the same address takes over its
   listener (the socket stays open, its connections too);
2. set them up, start and run them (``Supervisor.add``) while the old ones still serve; a
   failure cleans the new ones up and leaves the system as it was;
3. point the kept senders at the new receivers (``runtime.wiring.rebind``);
4. drain the removed and replaced components as shutdown drains them, and clean them up.

Memory bindings are wired by ``runtime.wiring``; ``transport: nats`` bindings by
``transport.NatsTransport``, which connects to NATS before any component is set up. A System
may run only some of a blueprint's components (``autocoder run --components``): its nats
bindings reach the others wherever they run; a memory binding cannot leave the process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import anyio
import structlog
from anyio.abc import TaskGroup

from autocoder.blueprint.model import Binding
from autocoder.errors import ReloadRefused, UsageError
from autocoder.http.served import ServedComponent
from autocoder.logging import LogFormat, configure_logging
from autocoder.observability.metrics import SystemMetrics
from autocoder.observability.tracing import tracing_from_environment
from autocoder.reload import Plan, ReadBlueprint, plan_reload, reload_logged, watch_file
from autocoder.runtime import registry
from autocoder.runtime.component import ComposedComponent
from autocoder.runtime.deadlines import Deadlines
from autocoder.runtime.supervisor import Supervisor
from autocoder.runtime.wiring import rebind, wire

if TYPE_CHECKING:
    from autocoder.blueprint.loader import LoadedBlueprint, LoadedComponent
    from autocoder.transport.binding import NatsTransport

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
        nats_url: str | None = None,
        kinds: Mapping[str, tuple[str, bool]] | None = None,
    ) -> None:
        self.name = name
        self.components: dict[str, ComposedComponent] = {c.name: c for c in components}
        self.bindings = list(bindings)
        self.shutdown_timeout = shutdown_timeout
        self.metrics = SystemMetrics()
        #: Tracing as the ``OTEL_*`` variables configure it (``None``: off, the default).
        self.tracing = tracing_from_environment(name)
        for component in components:
            self._attach(component)
        self.deadlines = Deadlines()
        #: The blueprint it was made from (``from_loaded``), which a reload compares with.
        self.loaded: LoadedBlueprint | None = None
        #: Called with each component a reload adds (``--workers`` shares their ports).
        self.prepare: Callable[[ComposedComponent], None] = _as_it_is
        #: The components a reload in progress adds, by name, until they serve.
        self._joining: dict[str, ComposedComponent] = {}
        wire(self.components, self._memory_bindings(self.bindings), self.metrics, self.deadlines)
        remote = [b for b in self.bindings if b.transport == "nats"]
        self.transport: NatsTransport | None = None
        if remote:
            if nats_url is None:
                raise UsageError("a nats binding needs system.nats.url")
            # Imported here: the NATS client and the transport are a tenth of every
            # command's start-up, and only a blueprint with a nats binding needs them.
            from autocoder.transport.binding import NatsTransport

            self.transport = NatsTransport(name, nats_url, self.metrics)
            known = {c.name: (c.type_name, c.serves_collections) for c in components}
            self.transport.wire(self.components, remote, {**(kinds or {}), **known})
        self._register_gauges()
        self._supervisor: Supervisor | None = None
        self._task_group: TaskGroup | None = None

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def from_loaded(cls, loaded: LoadedBlueprint, only: Sequence[str] | None = None) -> Self:
        """The system of ``loaded``, or of its components named in ``only`` (``UsageError``
        for an unknown name, or a memory binding that would cross out of the process)."""
        if only is not None:
            loaded = restrict(loaded, only)
        spec = loaded.blueprint.system
        system = cls(
            spec.name,
            [_component_of(item) for item in loaded.components],
            spec.bindings,
            shutdown_timeout=spec.shutdown_timeout,
            nats_url=spec.nats.url if spec.nats is not None else None,
            kinds={c.name: (c.type, _serves_collections(c.type)) for c in spec.components},
        )
        system.loaded = loaded
        return system

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

    def _attach(self, component: ComposedComponent) -> None:
        """Give ``component`` the system's metrics, tracing and itself."""
        component.metrics = self.metrics
        component.tracing = self.tracing
        component.system = self

    def _memory_bindings(self, bindings: Sequence[Binding]) -> list[Binding]:
        return [
            b
            for b in bindings
            if b.transport == "memory"
            and b.from_component in self.components
            and b.to_component in self.components
        ]

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

    def find(self, name: str) -> ComposedComponent | None:
        """The component called ``name``: the one a reload in progress is starting, when it
        replaces or adds one by that name (an endpoint it starts finds its new stores), else
        the one running."""
        return self._joining.get(name) or self.components.get(name)

    def waiting_for(self) -> list[str]:
        """Components not yet set up, or whose store or NATS is not connected (``/ready``)."""
        waiting = []
        for name, component in self.components.items():
            if not component.is_set_up:
                waiting.append(name)
                continue
            try:
                health = component.health_status()
            except Exception:  # a failing health check is unhealthy, not "not ready"
                continue
            if health.get("store_connected") is False or health.get("transport_connected") is False:
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
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self.deadlines.run)
                try:
                    if self.transport is not None:
                        await self.transport.connect()
                        await tg.start(self.transport.run)
                    await self._supervisor.run(task_status=task_status)
                finally:
                    tg.cancel_scope.cancel()
        finally:
            if self.transport is not None:  # once its tasks have ended
                with anyio.CancelScope(shield=True):
                    await self.transport.close()
            if self.tracing is not None:
                with anyio.CancelScope(shield=True):
                    # Exports what is buffered: blocking network I/O, so in a thread.
                    await anyio.to_thread.run_sync(self.tracing.shutdown)

    async def reload(self, loaded: LoadedBlueprint) -> Plan:
        """Apply ``loaded`` to the running system (see the module's doc); what changed.

        ``ReloadRefused`` when it cannot be applied, ``StartupError`` when a new component
        could not start: in both cases nothing changed.
        """
        supervisor = self._supervisor
        if self.loaded is None:
            raise ReloadRefused("this system was not made from a blueprint file")
        if supervisor is None or not self.running:
            raise ReloadRefused("the system is not serving (starting or shutting down)")
        plan = plan_reload(self.loaded, loaded)
        items = {item.spec.name: item for item in loaded.components}
        new = [_component_of(items[name]) for name in items if name not in plan.kept]
        leaving = [self.components[name] for name in (*plan.changed, *plan.removed)]
        for component in new:
            self.prepare(component)
            self._attach(component)
        _take_over_listeners(new, leaving)
        now = {name: self.components[name] for name in plan.kept} | {c.name: c for c in new}
        bindings = loaded.blueprint.system.bindings
        memory = [
            b
            for b in bindings
            if b.transport == "memory" and b.from_component in now and b.to_component in now
        ]
        wire(now, memory, self.metrics, self.deadlines, senders={c.name for c in new})
        self._joining = {c.name: c for c in new}
        try:
            await supervisor.add(new)
        finally:
            self._joining = {}
        # The new components serve: from here on the reload goes through.
        self.components = {name: now[name] for name in items}
        for stream in rebind(now, memory, plan.kept):
            stream.close()
        supervisor.shutdown_timeout = self.shutdown_timeout = (
            loaded.blueprint.system.shutdown_timeout
        )
        await supervisor.remove(leaving)
        self.loaded, self.bindings = loaded, list(bindings)
        return plan

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


def _as_it_is(component: ComposedComponent) -> None:
    """A System's default ``prepare``: components run as the blueprint configures them."""


def _component_of(item: LoadedComponent) -> ComposedComponent:
    """The component a blueprint's entry describes, not yet wired."""
    component = item.cls(item.spec.name, item.config, restart=item.spec.restart)
    component.type_name = item.spec.type
    component.dead_letters = item.spec.dead_letters
    return component


def _take_over_listeners(
    new: Sequence[ComposedComponent], leaving: Sequence[ComposedComponent]
) -> None:
    """Each new endpoint on the address of one that leaves serves on its socket, so that
    no connection is refused in between (the same name first: port 0 matches only it)."""
    free = [c for c in leaving if isinstance(c, ServedComponent)]
    for component in new:
        if not isinstance(component, ServedComponent):
            continue
        same_name = [c for c in free if c.name == component.name]
        others = [c for c in free if c.name != component.name and c.config.port != 0]
        for previous in (*same_name, *others):
            if component.take_over_listener(previous):
                free.remove(previous)
                break


def restrict(loaded: LoadedBlueprint, only: Sequence[str]) -> LoadedBlueprint:
    """``loaded`` with only the components named in ``only`` (``autocoder run --components``);
    its bindings stay, for the nats ones reach the others wherever they run."""
    check_placement(loaded, only)
    chosen = [item for item in loaded.components if item.spec.name in set(only)]
    return dataclasses.replace(loaded, components=chosen)


def _serves_collections(type_name: str) -> bool:
    try:
        return registry.resolve(type_name).serves_collections
    except Exception:  # loaded already once, so this does not happen; be safe anyway
        return False


def check_placement(loaded: LoadedBlueprint, only: Sequence[str]) -> None:
    """``UsageError`` unless ``only`` names components of ``loaded`` and no memory binding
    joins one of them to a component outside."""
    known = [item.spec.name for item in loaded.components]
    unknown = [name for name in only if name not in known]
    if unknown:
        raise UsageError(
            f"--components: unknown component {', '.join(map(repr, unknown))} "
            f"(components: {', '.join(known)})"
        )
    inside = set(only)
    for binding in loaded.blueprint.system.bindings:
        ends = (binding.from_component in inside, binding.to_component in inside)
        if binding.transport == "memory" and ends[0] != ends[1]:
            outside = binding.to_component if ends[0] else binding.from_component
            raise UsageError(
                f"--components: the memory binding {binding.stream_name!r} from "
                f"{binding.from_component!r} to {binding.to_component!r} would leave the "
                f"process ({outside!r} is not in --components); run both here, or bind "
                "them with transport: nats"
            )


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

    def __init__(
        self, system: System, announce: Callable[[System], None], started: anyio.Event
    ) -> None:
        self.system = system
        self.announce = announce
        self.event = started

    def started(self, value: object = None) -> None:
        tune_garbage_collector()
        self.announce(self.system)
        self.event.set()


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
    *,
    reload_from: ReadBlueprint | None = None,
    watch: str | None = None,
) -> None:
    """Serve ``system`` until SIGINT/SIGTERM (or until ``stop_when()`` returns), then drain.

    ``announce(system)`` runs once every component serves (by default: the start banner). A
    second signal exits the process at once. With ``reload_from``, SIGHUP reloads the
    blueprint it reads, and so does each change of the file ``watch``; one reload runs at a
    time, and requests for more while one runs make one more.
    """
    if system.tracing is not None:
        system.tracing.make_global()
    wanted = (signal.SIGINT, signal.SIGTERM) + ((signal.SIGHUP,) if reload_from else ())
    asked, requests = anyio.create_memory_object_stream[str](1)
    with anyio.open_signal_receiver(*wanted) as signals, asked, requests:

        def ask(by: str) -> None:
            with contextlib.suppress(anyio.WouldBlock):  # one is due already: it reads then
                asked.send_nowait(by)

        async with anyio.create_task_group() as tg:

            async def watch_signals() -> None:
                count = 0
                async for signum in signals:
                    if signum == signal.SIGHUP:
                        ask("SIGHUP")
                        continue
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

            async def reload_when_asked() -> None:
                assert reload_from is not None
                await system_started.wait()  # one asked for during start-up is made now
                async for by in requests:
                    await reload_logged(system, reload_from, by)

            async def watch_the_file() -> None:
                # Watching from the start: a write just after "is up" is never missed.
                assert watch is not None
                await watch_file(watch, lambda: ask("watch"), stop_watching)

            system_started, stop_watching = anyio.Event(), anyio.Event()
            tg.start_soon(watch_signals)
            if stop_when is not None:
                tg.start_soon(watch_stop)
            if reload_from is not None:
                tg.start_soon(reload_when_asked)
                if watch is not None:
                    tg.start_soon(watch_the_file)
            try:
                await system.serve(task_status=_OnStarted(system, announce, system_started))
            finally:
                stop_watching.set()
                tg.cancel_scope.cancel()


def run_blueprint(
    path: str | os.PathLike[str],
    *,
    log_format: LogFormat | None = None,
    log_level: str = "info",
    components: Sequence[str] | None = None,
    watch: bool = False,
) -> int:
    """``autocoder run``: serve the blueprint (or only ``components`` of it) until signalled,
    reloading it on SIGHUP (and with ``watch`` when the file changes); the exit code."""
    from autocoder.blueprint.loader import load_blueprint

    configure_logging(log_format, log_level)
    # Until the signal receiver takes SIGHUP over, one would end the process.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def read() -> LoadedBlueprint:
        loaded = load_blueprint(path)  # FILE in problems as the command line gave it
        return restrict(loaded, components) if components is not None else loaded

    system = System.from_loaded(read())
    try:
        anyio.run(
            functools.partial(
                serve_until_signalled,
                system,
                reload_from=read,
                watch=os.fspath(path) if watch else None,
            ),
            backend_options=backend_options(),
        )
    except BaseException as exc:
        raise single_exception(exc)  # noqa: B904 - keeps its own __cause__
    return 0


#: Chooses the event loop of ``autocoder run``: ``uvloop`` (the default) or ``asyncio``.
EVENT_LOOP_VARIABLE = "AUTOCODER_EVENT_LOOP"


def backend_options() -> dict[str, Any]:
    """The event loop of ``autocoder run``: uvloop where it is installed, unless
    ``AUTOCODER_EVENT_LOOP=asyncio`` asks for Python's own (``UsageError`` for another value)."""
    chosen = os.environ.get(EVENT_LOOP_VARIABLE, "").strip().lower()
    if chosen not in ("", "uvloop", "asyncio"):
        raise UsageError(
            f"{EVENT_LOOP_VARIABLE} is {os.environ[EVENT_LOOP_VARIABLE]!r}: use uvloop or asyncio"
        )
    if chosen == "asyncio":
        return {}
    try:
        import uvloop  # noqa: F401
    except ImportError:
        if chosen == "uvloop":
            raise UsageError(f"{EVENT_LOOP_VARIABLE}=uvloop, but uvloop is not installed") from None
        return {}
    return {"use_uvloop": True}

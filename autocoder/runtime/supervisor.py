"""The supervisor: sets every component up, keeps them running, and drains them on shutdown.

Everything runs in one task group. Start-up sets up every component before any runs; when one
fails, those already set up are cleaned up and ``StartupError`` says which and why. A
component whose ``run()`` raises is marked unhealthy and restarted (cleanup, setup, run) after
an exponential backoff; past ``max_restarts`` the system shuts down and ``ComponentFailure`` is
raised. One that fails while the system shuts down, with restarts left, is not restarted and
is no failure of the system. Shutdown asks every component to stop accepting work; each
receiver then finishes when its senders have closed their streams, having served what was
queued. The drain is bounded by ``shutdown_timeout``; whatever is still running then is cancelled.

While the system runs, ``add`` brings more components in (set up, started, run) and ``remove``
drains some as shutdown drains them all (a reload); the two and the shutdown take turns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio
import structlog
from anyio.abc import TaskGroup, TaskStatus

from autocoder.errors import AutocoderError, ComponentFailure, StartupError, error_reply
from autocoder.logging import mask_secrets
from autocoder.runtime.component import ComposedComponent
from autocoder.runtime.wiring import Inbound

MAX_BACKOFF_SECONDS = 30.0
CLEANUP_TIMEOUT_SECONDS = 10.0

log = structlog.get_logger("autocoder")


@dataclass(eq=False)
class _Running:
    """One component's run in the supervisor's task group."""

    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    done: anyio.Event = field(default_factory=anyio.Event)
    #: Set when it is drained on its own (``remove``): its failures no longer stop the system.
    leaving: bool = False


class Supervisor:
    """Runs a list of wired components; ``run`` returns when they have all stopped."""

    def __init__(self, components: Sequence[ComposedComponent], shutdown_timeout: float) -> None:
        self.components = list(components)
        self.shutdown_timeout = shutdown_timeout
        self.running = False
        self._stop = anyio.Event()
        self._failure: AutocoderError | None = None
        self._runs: dict[ComposedComponent, _Running] = {}
        self._task_group: TaskGroup | None = None
        #: Held by ``add``, ``remove`` and the shutdown drain, which so take turns.
        self._changing = anyio.Lock()

    def request_shutdown(self) -> None:
        """Begin a graceful shutdown (idempotent)."""
        self._stop.set()

    @property
    def shutting_down(self) -> bool:
        return self._stop.is_set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Set up, serve until shutdown is requested, drain, clean up."""
        try:
            await self._supervise(task_status)
        finally:
            # Also after a failed start-up: nothing reads or writes the streams any more.
            await _close_streams(self.components)

    async def _supervise(self, task_status: TaskStatus[None]) -> None:
        await self._setup_all(self.components)
        startup_error: StartupError | None = None
        try:
            async with anyio.create_task_group() as tg:
                self._task_group = tg
                try:
                    for component in serving_order(self.components):
                        await self._start(component)
                        await tg.start(self._keep_running, component)
                except StartupError as exc:
                    startup_error = exc
                    tg.cancel_scope.cancel()
                    return
                self.running = True
                task_status.started()
                await self._stop.wait()
                async with self._changing:
                    self.running = False
                    log.info("system_draining", timeout=self.shutdown_timeout)
                    await self._drain(self.components)
                tg.cancel_scope.cancel()
        finally:
            self.running = False
            self._task_group = None
            await self._cleanup_all(self.components)
            if startup_error is not None:
                raise startup_error
        if self._failure is not None:
            raise self._failure

    async def _drain(self, components: Sequence[ComposedComponent]) -> None:
        """Stop ``components`` accepting work and let them finish what is queued, within
        ``shutdown_timeout``; then cancel what still runs. Their senders' streams end their
        loops (closing the streams' own send sides lets them)."""
        with anyio.CancelScope(shield=True):
            for component in components:
                await component.stop_accepting()
            for component in components:
                for inbound in component.receive_streams.values():
                    inbound.close_joining()
        runs = [self._runs[c] for c in components if c in self._runs]
        with anyio.move_on_after(self.shutdown_timeout) as drain:
            for run in runs:
                await run.done.wait()
        if drain.cancelled_caught:
            log.warning("drain_timed_out", timeout=self.shutdown_timeout)
            for run in runs:
                run.scope.cancel()
            with anyio.CancelScope(shield=True):
                for run in runs:
                    await run.done.wait()

    # -- changing a running system ---------------------------------------------------------

    async def add(self, components: Sequence[ComposedComponent]) -> None:
        """Bring wired ``components`` into the running system.

        Every one is set up before any starts. They start in serving order; each that takes
        input runs as soon as it has started (a later one's ``start()`` may ask it
        something); the sources, which nothing sends to, run once every start succeeded. The
        runs have begun when this returns. A failure stops and cleans up the ones added so
        far and raises ``StartupError`` naming the component: the system is as it was.
        """
        async with self._changing:
            tg = self._task_group
            if tg is None or not self.running:
                raise StartupError("the system is not running (it is starting or stopping)")
            try:
                await self._setup_all(components)
            except BaseException:
                await _close_streams(components)
                raise
            try:
                sources: list[ComposedComponent] = []
                for component in serving_order(components):
                    await self._start(component)
                    if component.accepts_input:
                        await tg.start(self._keep_running, component)
                    else:
                        sources.append(component)
                for component in sources:
                    await tg.start(self._keep_running, component)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await self._remove(components)
                raise
            self.components += components

    async def remove(self, components: Sequence[ComposedComponent]) -> None:
        """Drain ``components`` as shutdown drains (their senders must have closed, or be
        among them), clean them up and take them out of the system."""
        async with self._changing:
            if not self.running:  # the shutdown got here first: it drains them with the rest
                return
            await self._remove(components)
            leaving = set(components)
            self.components = [c for c in self.components if c not in leaving]

    async def _remove(self, components: Sequence[ComposedComponent]) -> None:
        for component in components:
            run = self._runs.get(component)
            if run is not None:
                run.leaving = True
            else:  # never ran: what it would have sent to ends as if it had stopped
                for outbound in component.send_streams.values():
                    await outbound.aclose()
        await self._drain(components)
        await self._cleanup_all(components)
        await _close_streams(components)
        for component in components:
            self._runs.pop(component, None)

    # -- start-up and clean-up -------------------------------------------------------------

    async def _setup_all(self, components: Sequence[ComposedComponent]) -> None:
        done: list[ComposedComponent] = []
        for component in components:
            try:
                await component.setup()
            except Exception as exc:
                await self._cleanup_all([*done, component])
                raise startup_error_of(component, exc) from exc
            except BaseException:
                await self._cleanup_all([*done, component])
                raise
            component.is_set_up = True
            done.append(component)
            log.debug("component_set_up", component=component.name)

    async def _start(self, component: ComposedComponent) -> None:
        try:
            await component.start()
        except Exception as exc:
            raise startup_error_of(component, exc) from exc

    async def _cleanup_all(self, components: Sequence[ComposedComponent]) -> None:
        with anyio.CancelScope(shield=True):
            for component in reversed(components):
                with anyio.move_on_after(CLEANUP_TIMEOUT_SECONDS):
                    try:
                        await component.cleanup()
                    except Exception:
                        log.exception("cleanup_failed", component=component.name)
                component.is_set_up = False

    # -- keeping components running --------------------------------------------------------

    async def _keep_running(
        self, component: ComposedComponent, *, task_status: TaskStatus[None]
    ) -> None:
        run = self._runs[component] = _Running()
        try:
            with run.scope:
                task_status.started()
                await self._run_with_restarts(component, run)
        finally:
            with anyio.CancelScope(shield=True):
                for outbound in component.send_streams.values():
                    await outbound.aclose()
            run.done.set()

    async def _run_with_restarts(self, component: ComposedComponent, run: _Running) -> None:
        restarts = 0
        while True:
            try:
                if restarts:
                    await component.cleanup()
                    await component.setup()
                    await component.start()
                    component.healthy = True
                    log.info("component_restarted", component=component.name, restarts=restarts)
                await component.run()
                return
            except StartupError as exc:
                # Not a passing fault: the component cannot serve at all.
                component.healthy = False
                if run.leaving:
                    log.error("component_failed_leaving", component=component.name, exc_info=exc)
                    return
                self._failure = startup_error_of(component, exc)
                self.request_shutdown()
                await self._answer_unavailable(component)
                return
            except Exception as exc:
                component.healthy = False
                log.error(
                    "component_failed", component=component.name, restarts=restarts, exc_info=exc
                )
                if run.leaving:
                    return
                if restarts >= component.restart.max_restarts:
                    break
                if self.shutting_down:
                    # Not restarted, as the system is stopping; yet no failure of the system
                    # either: the component had restarts left.
                    await self._answer_unavailable(component)
                    return
                restarts += 1
                if component.metrics is not None:
                    component.metrics.component_restarts.labels(component.name).inc()
                backoff = component.restart.backoff_seconds * 2 ** (restarts - 1)
                await anyio.sleep(min(backoff, MAX_BACKOFF_SECONDS))
        self._failure = ComponentFailure(
            f"component {component.name!r} failed {restarts + 1} times "
            f"(max_restarts {component.restart.max_restarts}); shutting down"
        )
        self.request_shutdown()
        await self._answer_unavailable(component)

    async def _answer_unavailable(self, component: ComposedComponent) -> None:
        """A failed component answers what reaches it until its senders have stopped."""

        async def refuse(inbound: Inbound) -> None:
            async for envelope in inbound.stream:
                if envelope.reply is not None:
                    envelope.reply.fail(
                        error_reply("unavailable", f"component {component.name!r} has failed")
                    )

        async with anyio.create_task_group() as tg:
            for inbound in component.receive_streams.values():
                tg.start_soon(refuse, inbound)


async def _close_streams(components: Sequence[ComposedComponent]) -> None:
    """Close every stream of ``components``: nothing reads or writes them any more. A request
    still queued (its component was cancelled at the end of a drain) is answered
    ``unavailable`` rather than left to time out."""
    with anyio.CancelScope(shield=True):
        for component in components:
            for outbound in component.send_streams.values():
                await outbound.aclose()
            for inbound in component.receive_streams.values():
                inbound.close_joining()
                _refuse_queued(component, inbound)
                await inbound.stream.aclose()


def _refuse_queued(component: ComposedComponent, inbound: Inbound) -> None:
    while True:
        try:
            envelope = inbound.stream.receive_nowait()
        except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
            return
        if envelope.reply is not None:
            envelope.reply.fail(
                error_reply(
                    "unavailable",
                    f"component {component.name!r} stopped before it processed the message",
                )
            )


def startup_error_of(component: ComposedComponent, exc: Exception) -> StartupError:
    """``exc`` as a start-up error naming the component (keeping a StartupError's class)."""
    where = f"{component.name} ({component.type_name})"
    if isinstance(exc, StartupError):
        if str(exc).startswith(where):
            return exc
        return type(exc)(mask_secrets(f"{where}: {exc}"))
    return StartupError(mask_secrets(f"{where}: {exc}"))


def serving_order(components: Sequence[ComposedComponent]) -> list[ComposedComponent]:
    """Receivers before their senders, so a component's ``start()`` can ask them things.

    Components in a cycle of bindings keep their blueprint order; receivers that are not
    among ``components`` (running already) do not count.
    """
    by_name = {c.name: c for c in components}
    waiting_on = {
        c.name: {
            r
            for out in c.send_streams.values()
            for r in out.receivers
            if r != c.name and r in by_name
        }
        for c in components
    }
    ordered: list[ComposedComponent] = []
    while waiting_on:
        ready = [name for name, deps in waiting_on.items() if not deps]
        if not ready:  # a cycle: take the first remaining in blueprint order
            ready = [next(iter(waiting_on))]
        for name in ready:
            del waiting_on[name]
            ordered.append(by_name[name])
            for deps in waiting_on.values():
                deps.discard(name)
    return ordered

"""``autocoder run BLUEPRINT --workers N``: N processes of one blueprint on one machine.

The parent process loads and checks the blueprint once, then forks N workers. Each worker
builds a System of its own from the loaded blueprint and serves it. Its HTTP endpoints listen
with ``SO_REUSEPORT`` on the blueprint's ports, so the kernel spreads new connections over the
workers; a component that answers for one process only (a MetricsEndpoint: its families are
that process's counters) gets a port per worker instead, ``port + k - 1`` for worker ``k``.
Every worker's stores connect and migrate; migrations run under a database lock, so each is
applied once. Stores that cannot be shared between processes are refused before any worker
starts (``ComposedComponent.unshared_state``: a memory Store, an in-memory SQLite database).

Between the parent and a worker there are two pipes. The worker writes one JSON line to its
*status* pipe when it serves (the lines of its start banner) or when it cannot start (the
one-line cause); the parent holds the write end of its *lifeline*, and closing it asks the
worker to drain (the parent's death closes it too, so workers never outlive it). Workers run
in a process group of their own: a terminal's Ctrl-C reaches the parent only, which then stops
them all together, so no worker sees a signal twice.

- Start-up: the banner is printed once, when all N serve, with every worker's pid. A worker
  that cannot start stops the others, and the run exits 1 with that worker's cause.
- A worker that dies while serving (killed, crashed, or stopped by a signal sent to it alone)
  is logged and restarted in its place, as a pre-fork server does: at once the first time,
  then after a backoff doubling up to ``MAX_BACKOFF_SECONDS`` while deaths keep coming. More
  than ``MAX_DEATHS`` deaths within ``DEATH_WINDOW_SECONDS`` is no passing fault: the others
  are stopped and the run exits 1 (``WorkerFailure``).
- SIGINT/SIGTERM: every worker drains as one process would; exit 0 when all exited 0. A
  second signal kills the workers and exits 1 at once.
- SIGHUP (and with ``--watch`` a change of the file): the parent reads the blueprint and
  checks it as at start-up. One it refuses is logged (``reload_failed``, every problem as
  ``FILE:LINE:COL``) and reaches no worker. Otherwise the parent keeps it for the workers it
  starts from then on and sends SIGHUP to every worker that serves: each reloads it as one
  process does, and logs and counts its own result.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import selectors
import signal
import socket
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, NoReturn

import anyio
import structlog

from autocoder.blueprint.loader import LoadedBlueprint, LoadedComponent, load_blueprint
from autocoder.errors import (
    AutocoderError,
    BlueprintError,
    Problem,
    StartupError,
    WorkerFailure,
)
from autocoder.http.served import ServedComponent
from autocoder.http.server import bind_socket
from autocoder.logging import LogFormat, configure_logging, mask_secrets
from autocoder.reload import watch_file_blocking
from autocoder.runtime.component import ComposedComponent
from autocoder.system import (
    BannerRow,
    System,
    backend_options,
    banner_rows,
    print_start_banner,
    restrict,
    serve_until_signalled,
    single_exception,
)

__all__ = ["check_workers", "for_worker", "run_workers"]

MAX_DEATHS = 5
#: What the ``--watch`` thread writes on the wakeup pipe, beside signal numbers (no signal is 0).
FILE_CHANGED = 0
DEATH_WINDOW_SECONDS = 60.0
MAX_BACKOFF_SECONDS = 30.0

log = structlog.get_logger("autocoder")


# -- what may run as several workers ---------------------------------------------------------


def check_workers(loaded: LoadedBlueprint, count: int) -> None:
    """``BlueprintError`` (exit 2) when ``count`` workers of ``loaded`` would not be correct.

    Refused: a component whose state would be one copy per worker (a memory Store); an HTTP
    endpoint on port 0 (each worker would get another port); ports that collide once each
    MetricsEndpoint has a port per worker.
    """
    problems: list[Problem] = []

    def refuse(item: LoadedComponent, why: str) -> None:
        where = f"component {item.spec.name!r} ({item.spec.type})"
        problems.append(Problem(loaded.path, 0, 0, f"--workers {count}: {where} {why}"))

    for item in loaded.components:
        reason = item.cls.unshared_state(item.config)
        if reason is not None:
            refuse(item, f"{reason}, which its other workers would not see; use --workers 1")
        elif (
            issubclass(item.cls, ServedComponent)
            and not item.cls.port_per_worker
            and getattr(item.config, "port", None) == 0
        ):
            refuse(item, "listens on port 0 (any free port), which workers cannot share")
    taken: dict[tuple[str, int], str] = {}
    for number in range(1, count + 1):
        for item in for_worker(loaded, number).components:
            for address in item.cls.listen_addresses(item.config):
                owner = taken.setdefault(address, item.spec.name)
                if owner != item.spec.name:
                    host, port = address
                    refuse(
                        item, f"would listen on {host}:{port} in worker {number}, as {owner!r} does"
                    )
    if problems:
        raise BlueprintError(problems)


def for_worker(loaded: LoadedBlueprint, number: int) -> LoadedBlueprint:
    """The blueprint as worker ``number`` (1-based) runs it: a port of its own for each
    component that answers for one process (``port + number - 1``)."""
    components = []
    for item in loaded.components:
        if issubclass(item.cls, ServedComponent) and item.cls.port_per_worker:
            port = item.config.port  # type: ignore[attr-defined]
            if port:  # port 0: any free port, in each worker
                config = item.config.model_copy(update={"port": port + number - 1})
                item = dataclasses.replace(item, config=config)
        components.append(item)
    return dataclasses.replace(loaded, components=components)


def _probe_shared_ports(loaded: LoadedBlueprint) -> None:
    """Fail (exit 1) when a shared port is taken, before any worker starts.

    SO_REUSEPORT would let the workers join another process's sockets on the port when those
    were opened with it too (another ``--workers`` run of the same user): bind once without it.
    """
    for item in loaded.components:
        if not issubclass(item.cls, ServedComponent) or item.cls.port_per_worker:
            continue
        for host, port in item.cls.listen_addresses(item.config):
            try:
                bind_socket(host, port).close()
            except StartupError as exc:
                raise StartupError(f"{item.spec.name} ({item.spec.type}): {exc}") from None


# -- the parent ------------------------------------------------------------------------------


def run_workers(
    path: str | os.PathLike[str],
    count: int,
    *,
    log_format: LogFormat | None = None,
    log_level: str = "info",
    components: Sequence[str] | None = None,
    watch: bool = False,
) -> int:
    """``autocoder run --workers N``: serve ``count`` workers (of ``components`` only, when
    given) until signalled, reloading on SIGHUP (and with ``watch`` when the file changes);
    the exit code."""
    if not hasattr(os, "fork") or not hasattr(socket, "SO_REUSEPORT"):
        raise BlueprintError(
            [
                Problem(
                    os.fspath(path),
                    0,
                    0,
                    f"--workers {count} needs os.fork and SO_REUSEPORT"
                    " (Linux); use --workers 1 here",
                )
            ]
        )
    configure_logging(log_format, log_level)

    def read() -> LoadedBlueprint:
        loaded = load_blueprint(path)
        if components is not None:
            loaded = restrict(loaded, components)
        check_workers(loaded, count)
        return loaded

    loaded = read()
    _probe_shared_ports(loaded)
    supervisor = WorkerSupervisor(loaded, count, debug=log_level == "debug", read=read)
    return supervisor.run(watch=os.fspath(path) if watch else None)


@dataclass
class Worker:
    """One worker process as its parent sees it."""

    number: int
    pid: int
    status: int  # read end of the worker's status pipe
    lifeline: int | None  # write end of its lifeline; None once closed
    ready: bool = False
    buffer: bytes = b""
    rows: list[BannerRow] = field(default_factory=list)
    cause: str | None = None  # what it said when it could not start


class WorkerSupervisor:
    """Starts, watches, restarts and stops the workers of one run (see the module's doc)."""

    def __init__(
        self,
        loaded: LoadedBlueprint,
        count: int,
        *,
        debug: bool = False,
        read: Callable[[], LoadedBlueprint] | None = None,
    ) -> None:
        self.loaded = loaded
        #: Reads the blueprint again for a reload (``None``: SIGHUP is ignored).
        self.read = read
        self.count = count
        self.debug = debug
        self.workers: dict[int, Worker] = {}
        self.restarts_due: dict[int, float] = {}
        self.deaths: deque[float] = deque()
        self.announced = False
        self.stopping = False
        self.failure: AutocoderError | None = None
        self.exit_codes: list[int] = []
        self.selector = selectors.DefaultSelector()
        self.wakeup_read, self.wakeup_write = os.pipe()

    # -- the loop --------------------------------------------------------------------------

    def run(self, watch: str | None = None) -> int:
        with self._signals(), self._watching(watch):
            for number in range(1, self.count + 1):
                self._spawn(number)
            while self.workers or (self.restarts_due and not self.stopping):
                self._restart_due()
                for key, _ in self.selector.select(self._timeout()):
                    if key.fd == self.wakeup_read:
                        self._on_signals()
                    else:
                        self._on_status(self.workers[key.data])
        self.selector.close()
        if self.failure is not None:
            raise self.failure
        return 0 if all(code == 0 for code in self.exit_codes) else 1

    def _timeout(self) -> float | None:
        if not self.restarts_due or self.stopping:
            return None
        return max(0.0, min(self.restarts_due.values()) - time.monotonic())

    @contextmanager
    def _signals(self) -> Iterator[None]:
        os.set_blocking(self.wakeup_write, False)
        self.selector.register(self.wakeup_read, selectors.EVENT_READ)
        caught = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        previous = {sig: signal.signal(sig, _ignore) for sig in caught}
        old_wakeup = signal.set_wakeup_fd(self.wakeup_write)
        try:
            yield
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(self.wakeup_read)
            os.close(self.wakeup_write)

    @contextmanager
    def _watching(self, path: str | None) -> Iterator[None]:
        """With ``path``: a thread that turns each change of the file into a SIGHUP."""
        if path is None:
            yield
            return
        stop = threading.Event()

        def on_change() -> None:
            with suppress(BlockingIOError):  # the pipe is full: a reload is due anyway
                os.write(self.wakeup_write, bytes([FILE_CHANGED]))

        watcher = threading.Thread(target=watch_file_blocking, args=(path, on_change, stop))
        watcher.start()
        try:
            yield
        finally:
            stop.set()
            watcher.join()

    def _reload(self, by: str) -> None:
        """SIGHUP: check the blueprint here, then have every serving worker reload it."""
        if self.read is None or self.stopping:
            return
        try:
            loaded = self.read()
        except BlueprintError as exc:
            log.error("reload_failed", by=by, problems=[str(p) for p in exc.problems])
            return
        except AutocoderError as exc:
            log.error("reload_failed", by=by, error=str(exc))
            return
        self.loaded = loaded
        for worker in self.workers.values():
            if worker.ready:
                with suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGHUP)
        log.info("reload_forwarded", by=by, workers=sum(w.ready for w in self.workers.values()))

    def _on_signals(self) -> None:
        for signum in os.read(self.wakeup_read, 64):
            if signum in (signal.SIGHUP, FILE_CHANGED):
                self._reload("SIGHUP" if signum == signal.SIGHUP else "watch")
            elif not self.stopping:
                log.info("shutdown_requested", signal=signal.Signals(signum).name)
                self._stop_all()
            else:
                log.warning("second_signal_exiting_now")
                for worker in self.workers.values():
                    _kill(worker.pid)
                for worker in self.workers.values():  # reaped: no zombie outlives the run
                    with suppress(ChildProcessError):
                        os.waitpid(worker.pid, 0)
                os._exit(1)

    def _stop_all(self) -> None:
        """Ask every worker to drain; no more restarts."""
        self.stopping = True
        self.restarts_due.clear()
        for worker in self.workers.values():
            self._close_lifeline(worker)

    # -- starting --------------------------------------------------------------------------

    def _spawn(self, number: int) -> None:
        status_read, status_write = os.pipe()
        lifeline_read, lifeline_write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker
            os.close(status_read)
            os.close(lifeline_write)
            self._parent_fds_closed()
            _worker_main(
                self.loaded, number, status_write, lifeline_read, debug=self.debug, read=self.read
            )
        os.close(status_write)
        os.close(lifeline_read)
        worker = Worker(number, pid, status_read, lifeline_write)
        self.workers[number] = worker
        self.selector.register(status_read, selectors.EVENT_READ, number)
        log.debug("worker_started", worker=number, worker_pid=pid)

    def _parent_fds_closed(self) -> None:
        """In a new worker: close what belongs to the parent (its siblings' pipes above all:
        a sibling holding another's lifeline would keep it from ever seeing it closed)."""
        signal.set_wakeup_fd(-1)
        # SIGHUP is ignored until the worker serves, when its reload takes it over.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        self.selector.close()
        for fd in (self.wakeup_read, self.wakeup_write):
            os.close(fd)
        for sibling in self.workers.values():
            os.close(sibling.status)
            if sibling.lifeline is not None:
                os.close(sibling.lifeline)

    def _restart_due(self) -> None:
        now = time.monotonic()
        for number, due in list(self.restarts_due.items()):
            if due <= now:
                del self.restarts_due[number]
                self._spawn(number)

    # -- what workers say ------------------------------------------------------------------

    def _on_status(self, worker: Worker) -> None:
        chunk = os.read(worker.status, 65536)
        if not chunk:
            self._on_exit(worker)
            return
        worker.buffer += chunk
        while b"\n" in worker.buffer:
            line, _, worker.buffer = worker.buffer.partition(b"\n")
            message = json.loads(line)
            if "ready" in message:
                worker.ready = True
                worker.rows = [(n, t, list(urls)) for n, t, urls in message["ready"]]
                self._on_ready(worker)
            elif "error" in message:
                worker.cause = str(message["error"])

    def _on_ready(self, worker: Worker) -> None:
        if self.announced:
            log.info("worker_restarted", worker=worker.number, worker_pid=worker.pid)
        elif all(w.ready for w in self.workers.values()) and len(self.workers) == self.count:
            self.announced = True
            self._print_banner()

    def _print_banner(self) -> None:
        ordered = [self.workers[n] for n in sorted(self.workers)]
        rows: list[BannerRow] = []
        for index, (name, type_name, _) in enumerate(ordered[0].rows):
            urls: list[str] = []
            for worker in ordered:
                urls += [url for url in worker.rows[index][2] if url not in urls]
            rows.append((name, type_name, urls))
        pids = ", ".join(str(w.pid) for w in ordered)
        print_start_banner(
            self.loaded.blueprint.system.name, rows, note=f" ({len(ordered)} workers, pids {pids})"
        )

    def _on_exit(self, worker: Worker) -> None:
        self.selector.unregister(worker.status)
        os.close(worker.status)
        self._close_lifeline(worker)
        del self.workers[worker.number]
        _, status = os.waitpid(worker.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        how = f"exited with code {code}" if code >= 0 else f"killed by {signal.Signals(-code).name}"
        if self.stopping:
            self.exit_codes.append(code)
            if worker.cause and self.failure is None:
                # It could not start while the run was stopping: still the run's cause.
                self.failure = StartupError(worker.cause)
            log.debug("worker_stopped", worker=worker.number, worker_pid=worker.pid, how=how)
            return
        if not self.announced:
            # Start-up: one worker that cannot start stops the run, with its cause.
            cause = worker.cause or f"worker {worker.number} (pid {worker.pid}) {how} at start-up"
            self.failure = StartupError(cause)
            self._stop_all()
            return
        self._on_death(worker, how)

    def _on_death(self, worker: Worker, how: str) -> None:
        now = time.monotonic()
        self.deaths.append(now)
        while self.deaths and self.deaths[0] < now - DEATH_WINDOW_SECONDS:
            self.deaths.popleft()
        what = f"worker {worker.number} (pid {worker.pid}) {how}"
        if worker.cause:
            what += f": {worker.cause}"
        if len(self.deaths) > MAX_DEATHS:
            self.failure = WorkerFailure(
                f"{what}; {len(self.deaths)} worker deaths within {DEATH_WINDOW_SECONDS:g}s, "
                "stopping"
            )
            self._stop_all()
            return
        backoff = 0.0 if len(self.deaths) == 1 else 2.0 ** (len(self.deaths) - 2)
        backoff = min(backoff, MAX_BACKOFF_SECONDS)
        log.error(
            "worker_died",
            worker=worker.number,
            worker_pid=worker.pid,
            how=how,
            cause=worker.cause,
            restart_in=backoff,
        )
        self.restarts_due[worker.number] = now + backoff

    def _close_lifeline(self, worker: Worker) -> None:
        if worker.lifeline is not None:
            os.close(worker.lifeline)
            worker.lifeline = None


def _ignore(signum: int, frame: Any) -> None:
    """The Python-level handler; the wakeup pipe carries the signal to the loop."""


def _kill(pid: int) -> None:
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


# -- a worker --------------------------------------------------------------------------------


def _worker_main(
    loaded: LoadedBlueprint,
    number: int,
    status: int,
    lifeline: int,
    *,
    debug: bool,
    read: Callable[[], LoadedBlueprint] | None = None,
) -> NoReturn:
    """The body of worker ``number`` after the fork: serve, then leave with ``os._exit``
    (nothing of the parent's, no atexit hook or buffered output, runs twice)."""
    code = 1
    try:
        os.setpgid(0, 0)
        structlog.contextvars.bind_contextvars(worker=number, pid=os.getpid())
        system = System.from_loaded(for_worker(loaded, number))
        system.prepare = _share_port
        for component in system.components.values():
            _share_port(component)

        def announce(system: System) -> None:
            _tell(status, {"ready": banner_rows(system)})

        async def lifeline_closed() -> None:
            await anyio.wait_readable(lifeline)

        def read_again() -> LoadedBlueprint:
            assert read is not None
            return for_worker(read(), number)

        anyio.run(
            functools.partial(
                serve_until_signalled,
                system,
                announce,
                lifeline_closed,
                reload_from=read_again if read is not None else None,
            ),
            backend_options=backend_options(),
        )
        code = 0
    except BaseException as exc:
        error = single_exception(exc)
        _tell(status, {"error": cause_of(error)})
        if debug:
            traceback.print_exception(error)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _share_port(component: ComposedComponent) -> None:
    """In a worker: an endpoint listens beside the other workers' (``SO_REUSEPORT``)."""
    if isinstance(component, ServedComponent) and not component.port_per_worker:
        component.reuse_port = True


def _tell(fd: int, message: dict[str, Any]) -> None:
    os.write(fd, json.dumps(message).encode() + b"\n")


def cause_of(exc: BaseException) -> str:
    """The one line ``autocoder run`` prints for ``exc`` after ``error:``."""
    if isinstance(exc, AutocoderError):
        text = str(exc)
    else:
        text = f"internal error: {type(exc).__name__}: {exc}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return mask_secrets("; ".join(lines) or "(no message)")

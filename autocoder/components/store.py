"""Store: answers the action messages of docs/actions.md from memory or a database table."""

from __future__ import annotations

import importlib
import time
from collections.abc import AsyncGenerator, Iterator
from typing import Any, Literal

import anyio
from pydantic import Field, model_validator

from autocoder.errors import (
    BatchFailed,
    InternalError,
    NotFound,
    StoreError,
    Unavailable,
    ValidationFailed,
)
from autocoder.logging import mask_secrets
from autocoder.observability.metrics import SystemMetrics
from autocoder.observability.perf import Meter, PerformanceMonitor
from autocoder.runtime.component import ComponentConfig, ComposedComponent
from autocoder.runtime.messages import Reply
from autocoder.storage.backend import StorageBackend
from autocoder.storage.group_commit import DEFAULT_MAX_BATCH_SIZE, GroupCommit
from autocoder.storage.memory import MemoryBackend
from autocoder.storage.settings import DatabaseSettings
from autocoder.storage.sql.dialects import Dialect, scheme_dialect, sqlite_in_memory
from autocoder.store.actions import Actions, Change
from autocoder.store.feed import ChangeFeeds, Subscription
from autocoder.store.messages import IDENTIFIER, action_label, parse_message

DatabaseType = Dialect

SQL_BACKEND = "autocoder.storage.documents:SqlDocumentBackend"


def database_type_of(url: str) -> DatabaseType | None:
    """The database type a URL's scheme implies (``postgresql+asyncpg://`` → postgresql)."""
    return scheme_dialect(url)


def changes_retention_field() -> Any:
    """The ``changes_retention`` option, the same on every store."""
    return Field(
        default=10000,
        ge=1,
        description="Changes kept per collection, at least, for watchers resuming (since).",
    )


def max_batch_size_field() -> Any:
    """The ``max_batch_size`` option (group commit), the same on every database store."""
    return Field(
        default=DEFAULT_MAX_BATCH_SIZE,
        ge=1,
        le=10000,
        description="Writes committed together at most (group commit); 1 turns it off.",
    )


class StoreConfig(ComponentConfig):
    """Configuration of a Store: where its records live (docs/components.md#store)."""

    storage_type: Literal["memory", "database"] = Field(
        default="memory",
        description="memory: fast, lost on exit; database: a table at database_url.",
    )
    database_type: DatabaseType | None = Field(
        default=None, description="May be left out: implied by database_url, must match it."
    )
    database_url: str | None = Field(
        default=None,
        description="postgresql://, mysql:// or sqlite:///file.db; required for database.",
    )
    table_name: str = Field(
        default="tasks",
        pattern=IDENTIFIER,
        description="The collection's name (the HTTP path /NAME) and the table's.",
    )
    pool_max_size: int = Field(
        default=4, ge=1, le=200, description="Database connections at most (messages at once)."
    )
    pool_timeout: float = Field(
        default=5.0, gt=0, description="Seconds to wait for a connection, then unavailable."
    )
    command_timeout: float = Field(
        default=30.0, gt=0, description="Seconds one statement may run, then timeout."
    )
    changes_retention: int = changes_retention_field()
    max_batch_size: int = max_batch_size_field()

    @model_validator(mode="after")
    def _database_settings(self) -> StoreConfig:
        if self.database_url is not None:
            implied = database_type_of(self.database_url)
            if implied is None:
                raise ValueError(
                    "database_url must start with postgresql://, mysql:// or sqlite:///"
                )
            if self.database_type is not None and self.database_type != implied:
                raise ValueError(
                    f"database_type {self.database_type!r} does not match the {implied} "
                    "database_url"
                )
            self.database_type = implied
        elif self.storage_type == "database":
            raise ValueError("storage_type 'database' needs a database_url")
        return self

    def database_settings(self) -> DatabaseSettings:
        """The database, pool and time bounds of a ``storage_type: database`` store."""
        if self.database_url is None or self.database_type is None:
            raise ValueError("storage_type 'database' needs a database_url")
        return DatabaseSettings(
            self.database_url,
            self.database_type,
            min_size=1,
            max_size=self.pool_max_size,
            pool_timeout=self.pool_timeout,
            command_timeout=self.command_timeout,
        )


def in_memory_sqlite(url: str | None) -> str | None:
    """The reason an SQLite database at ``url`` lives in one process only, else ``None``."""
    if url is None or not url.lower().startswith("sqlite:"):
        return None
    path = url.split(":///", 1)[1] if ":///" in url else ""
    if sqlite_in_memory(path):
        return f"keeps its records in an in-memory SQLite database ({url})"
    return None


class Store(ComposedComponent):
    """Persists records in memory or a database table and answers action messages.

    Each message is measured once, in ``process_item`` (whether it came over a binding or
    through the Python API), and recorded by ``self.meter`` under ``action_label``: in
    ``autocoder_processing_seconds``, ``autocoder_store_operations_total`` and, when the store
    has one, its ``performance_monitor``.
    """

    Config = StoreConfig
    description = "Persists records (memory, SQLite, PostgreSQL, MySQL) and answers actions."
    serves_collections = True
    measures_itself = True

    def __init__(self, name: str, config: Any = None, **kwargs: Any) -> None:
        super().__init__(name, config, **kwargs)
        self.performance_monitor: PerformanceMonitor | None = self.create_monitor()
        self.meter = Meter(name, self.performance_monitor)
        self.backend = self.create_backend()
        self.backend.changes_retention = self.config.changes_retention
        self._watch_events: Any = None
        self.feeds = ChangeFeeds(self.backend, on_event=self._count_watch_event)
        self.actions = Actions(self.backend)
        self.items_count = 0
        self._record_counts: dict[str, int] = {}

    def create_monitor(self) -> PerformanceMonitor | None:
        """The performance monitor fed with every operation; none for a plain Store."""
        return None

    @classmethod
    def unshared_state(cls, config: Any) -> str | None:
        if config.storage_type == "memory":
            return "keeps its records in the memory of its process (storage_type memory)"
        return in_memory_sqlite(config.database_url)

    def create_backend(self) -> StorageBackend:
        """The backend this store keeps its records in; subclasses override."""
        config: StoreConfig = self.config
        if config.storage_type == "memory":
            return MemoryBackend([config.table_name])
        settings = config.database_settings()
        module_name, _, class_name = SQL_BACKEND.partition(":")
        backend_class = getattr(importlib.import_module(module_name), class_name)
        backend: StorageBackend = backend_class(
            settings.url,
            database_type=settings.dialect,
            table_name=config.table_name,
            pool_min_size=settings.min_size,
            pool_max_size=settings.max_size,
            pool_timeout=settings.pool_timeout,
            command_timeout=settings.command_timeout,
            max_batch_size=config.max_batch_size,
        )
        return backend

    # -- lifecycle -------------------------------------------------------------------------

    async def setup(self) -> None:
        await self.backend.connect()
        self.concurrency = max(1, getattr(self.backend, "concurrency", 1))
        for info in self.backend.collections():
            self._record_counts[info.name] = await self.backend.count(info.name)
        if self.metrics is not None:
            self._register_gauges(self.metrics)

    async def run(self) -> None:
        """Serve messages, and the change feeds beside them until serving ends."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.feeds.run)
            await super().run()
            tg.cancel_scope.cancel()

    async def cleanup(self) -> None:
        await self.backend.close()

    # -- change feeds ----------------------------------------------------------------------

    async def watch(
        self,
        collection: str | None = None,
        since: int | None = None,
        where: dict[str, Any] | None = None,
        tenant: str = "",
    ) -> AsyncGenerator[dict[str, Any], None]:
        """The change events of ``collection`` (default: the first) committed after seq
        ``since`` (default: from now on) in ``tenant`` whose record matches ``where``, in seq
        order, each once, for as long as the caller iterates (docs/change-feeds.md).

        Raises ``ChangesGone`` when ``since`` is older than the kept history,
        ``ValidationFailed`` for an unknown collection or a ``since`` past the latest seq, and
        ``WatcherLagged`` (its ``details["seq"]`` the last seq given) when the caller fell
        a whole buffer behind: watching again from that seq misses nothing.
        """
        subscription = await self.open_watch(collection, since, where, tenant)
        try:
            async for event in subscription:
                yield event
        finally:
            subscription.close()

    async def open_watch(
        self,
        collection: str | None = None,
        since: int | None = None,
        where: dict[str, Any] | None = None,
        tenant: str = "",
    ) -> Subscription:
        """``watch`` with every check made before the first event: the subscription's
        ``await next()`` gives the events (``autocoder.store.feed.Subscription``)."""
        name = self._collection(collection)
        return await self.feeds.open(name, since=since, tenant=tenant, where=where)

    def _collection(self, collection: str | None) -> str:
        names = [info.name for info in self.backend.collections()]
        if collection is None:
            return names[0]
        if collection not in names:
            raise ValidationFailed(
                f"unknown collection {collection!r} (collections: {', '.join(names)})",
                collection=collection,
            )
        return collection

    def _count_watch_event(self, events: int) -> None:
        if self._watch_events is not None:
            self._watch_events.inc(events)

    def _register_gauges(self, metrics: SystemMetrics) -> None:
        def records() -> Iterator[tuple[tuple[str, ...], float]]:
            for collection, count in self._record_counts.items():
                yield (self.name, collection), float(count)

        metrics.store_records.sources.append(records)
        self._watch_events = metrics.watch_events.labels(self.name)

        def watchers() -> Iterator[tuple[tuple[str, ...], float]]:
            counts = self.feeds.watcher_counts()
            for info in self.backend.collections():
                yield (self.name, info.name), float(counts.get(info.name, 0))

        metrics.watchers.sources.append(watchers)
        commits: GroupCommit | None = getattr(self.backend, "commits", None)
        if commits is not None:  # a database backend's single writes go through it
            commits.observe = metrics.store_batch_size.labels(self.name).observe
        pool_stats = getattr(self.backend, "pool_stats", None)
        if callable(pool_stats):

            def pool() -> Iterator[tuple[tuple[str, ...], float]]:
                for state, value in pool_stats().items():
                    yield (self.name, state), float(value)

            metrics.db_pool_connections.sources.append(pool)

    # -- serving ---------------------------------------------------------------------------

    async def process_item(self, item: Any) -> Reply:
        """Serve one action message; every failure becomes an error reply, never an exception."""
        started = time.perf_counter()
        self.items_count += 1
        changes: list[Change] = []
        try:
            message = parse_message(item)
            reply, changes = await self.actions.execute(message)
        except (StoreError, NotFound) as exc:
            reply = exc.to_reply()
        except BatchFailed as exc:
            reply = exc.reply
        except Exception as exc:
            self.log.exception("store_internal_error", action=action_label(item))
            reply = InternalError(f"internal error: {type(exc).__name__}: {exc}").to_reply()
        if changes:
            await self._publish(changes)
        self.record(action_label(item), time.perf_counter() - started, reply)
        return reply

    def record(self, action: str, seconds: float, reply: Reply) -> None:
        """Record one served operation (the one measurement of it) under ``action``."""
        self.meter.record(self.metrics, action, seconds, str(reply.get("status")))

    async def _publish(self, changes: list[Change]) -> None:
        for change in changes:
            delta = {"created": 1, "deleted": -1}.get(change.event, 0)
            if delta and change.collection in self._record_counts:
                self._record_counts[change.collection] += delta
        for outbound in self.send_streams.values():
            for change in changes:
                event = change.as_event()
                try:
                    await outbound.send(event)
                except Unavailable as exc:
                    # The change is committed and its reply stands; the event that could not
                    # go out (its nats binding lost NATS) becomes a dead letter, so it is kept
                    # or at least logged, and the store goes on serving.
                    await self._undeliverable(event, outbound.name, exc)

    async def _undeliverable(self, event: dict[str, Any], stream: str, exc: Unavailable) -> None:
        if stream == self.dead_letters:
            self.log.error("change_event_lost", stream=stream, id=event.get("id"), error=str(exc))
            return
        try:
            await self.dead_letter(event, stream=stream, error=exc)
        except Unavailable as again:
            self.log.error("change_event_lost", stream=stream, id=event.get("id"), error=str(again))

    def urls(self) -> list[str]:
        url = getattr(self.config, "database_url", None)
        return [mask_secrets(url)] if url else []

    def get_health_status(self) -> dict[str, Any]:
        connected = self.backend.connected
        collections = self.backend.collections()
        health: dict[str, Any] = {
            "status": "healthy" if self.healthy and connected else "unhealthy",
            "items_count": self.items_count,
            "storage_type": self.backend.storage_type,
            "task_count": sum(self._record_counts.values()),
            "store_connected": connected,
            "database_type": getattr(self.config, "database_type", None),
            "table_name": collections[0].name if collections else None,
        }
        health.update(self.backend.health())
        return health

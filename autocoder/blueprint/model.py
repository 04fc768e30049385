"""The blueprint format of docs/blueprint-reference.md as pydantic models (unknown keys are errors).

Component ``config`` mappings stay untyped here: each component type validates its own with its
``Config`` model, in the loader, so errors point into the config at the right node.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from autocoder.runtime.component import RestartPolicy

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


STREAM_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]*$"


class ComponentSpec(_Strict):
    """One component: a unique name, a registered type, its config and restart policy."""

    name: str = Field(pattern=NAME_PATTERN, max_length=100)
    type: str = Field(min_length=1)
    description: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    restart: RestartPolicy = Field(default_factory=RestartPolicy)
    dead_letters: str | None = Field(
        default=None,
        pattern=STREAM_PATTERN,
        max_length=100,
        description="A send stream of this component (bound from it) that takes every message "
        "whose processing failed, as a dead_letter event.",
    )


class Binding(_Strict):
    """``send_streams[stream_name]`` of one component into ``receive_streams[stream_name]``."""

    from_component: str
    to_component: str
    stream_name: str = Field(pattern=STREAM_PATTERN, max_length=100)
    buffer_size: int = Field(default=100, ge=1, le=1_000_000)
    #: ``nats`` carries the binding between processes (docs/distributed.md); needs
    #: ``system.nats.url``.
    transport: Literal["memory", "nats"] = "memory"
    #: nats only: lanes by a hash of ``partition_key``; order holds within a lane.
    partitions: int = Field(default=1, ge=1, le=1024)
    partition_key: str = Field(default="id", min_length=1)
    #: nats only: deliveries of a ``send`` before it is a dead letter.
    max_deliver: int = Field(default=5, ge=1)
    #: nats only: seconds a receiver has to process a ``send`` before it is delivered again.
    ack_wait: float = Field(default=30.0, gt=0)


class NatsSpec(_Strict):
    """Where the NATS server of the system's nats bindings is (``nats://[user:pass@]host:port``)."""

    url: str = Field(min_length=1)


class SystemSpec(_Strict):
    name: str = Field(min_length=1)
    description: str | None = None
    nats: NatsSpec | None = None
    shutdown_timeout: float = Field(default=10.0, gt=0)
    components: list[ComponentSpec] = Field(min_length=1)
    bindings: list[Binding] = Field(default_factory=list)


class Blueprint(_Strict):
    """A whole blueprint file."""

    system: SystemSpec

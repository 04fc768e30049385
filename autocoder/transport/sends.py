"""``send`` over a nats binding: a JetStream publish, deduplicated by message id.

Each (receiver, stream name) has its own JetStream stream, created when missing by whichever
side starts first, with file storage and work-queue retention (a message is removed once its
receiver acknowledged it, so the stream holds only what is still to be processed). Each lane
has a durable pull consumer on that stream (``lanes``). ``publish`` returns once JetStream
stored the message; every publish carries a ``Nats-Msg-Id``, so a publish retried after a
lost acknowledgement is stored once (within the stream's duplicate window).

A publish is what nats-py's ``js.publish`` sends (the message with ``Nats-Msg-Id`` and
``Nats-Expected-Stream``, awaiting JetStream's acknowledgement on a reply subject), awaited
through the connection's ``replies`` like a request: so a publish awaiting its
acknowledgement when the connection drops fails at once, without a time limit of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import nats.errors
import nats.js.errors
import orjson
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    Header,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from autocoder.errors import Unavailable
from autocoder.transport.connection import NatsLink
from autocoder.transport.errors import translate
from autocoder.transport.subjects import BindingNames

#: Seconds in which JetStream recognises a message id it stored already.
DUPLICATE_WINDOW_SECONDS = 120.0
PUBLISH_TIMEOUT_SECONDS = 5.0
PUBLISH_ATTEMPTS = 3


@dataclass(frozen=True)
class Target:
    """One receiver of a nats binding, with the binding's delivery options."""

    receiver: str
    names: BindingNames
    partitions: int
    partition_key: str
    max_deliver: int
    ack_wait: float
    #: The receiver's type, and whether it answers ``describe`` (an endpoint asks it then).
    receiver_type: str = ""
    serves_collections: bool = False


def consumer_config(target: Target, lane: int) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=BindingNames.consumer(lane),
        name=BindingNames.consumer(lane),
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=target.ack_wait,
        max_deliver=target.max_deliver,
        filter_subject=target.names.lane_subject(lane),
    )


async def ensure_binding(js: JetStreamContext, target: Target) -> None:
    """Create the JetStream stream and lane consumers of ``target`` where they are missing."""
    stream = target.names.jetstream_stream
    try:
        await js.stream_info(stream)
    except nats.js.errors.NotFoundError:
        config = StreamConfig(
            name=stream,
            subjects=[target.names.send_subjects],
            storage=StorageType.FILE,
            retention=RetentionPolicy.WORK_QUEUE,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
        )
        try:
            await js.add_stream(config)
        except nats.js.errors.BadRequestError:
            await js.stream_info(stream)  # created meanwhile by another process
    for lane in range(target.partitions):
        await ensure_consumer(js, target, lane)


async def ensure_consumer(js: JetStreamContext, target: Target, lane: int) -> None:
    stream = target.names.jetstream_stream
    try:
        await js.consumer_info(stream, BindingNames.consumer(lane))
    except nats.js.errors.NotFoundError:
        try:
            await js.add_consumer(stream, consumer_config(target, lane))
        except nats.js.errors.BadRequestError:
            await js.consumer_info(stream, BindingNames.consumer(lane))


async def publish(
    link: NatsLink,
    target: Target,
    lane: int,
    payload: bytes,
    msg_id: str,
    carried: dict[str, str] | None = None,
) -> None:
    """Store ``payload`` in ``target``'s stream, or raise ``Unavailable``; ``carried``: the
    headers of the sender's request (its id and trace)."""
    headers = {
        **(carried or {}),
        Header.MSG_ID.value: msg_id,
        Header.EXPECTED_STREAM.value: target.names.jetstream_stream,
    }
    subject = target.names.lane_subject(lane)
    for _attempt in range(PUBLISH_ATTEMPTS):
        client = link.client
        if client is None or not client.is_connected:
            raise Unavailable(f"{_what(target)}: NATS at {link.address} is not connected")
        try:
            answer = await link.replies.request(
                client, subject, payload, PUBLISH_TIMEOUT_SECONDS, headers
            )
        except nats.errors.Error as exc:
            raise translate(exc, _what(target)) from exc
        except TimeoutError:
            continue  # the same message id again: stored once however often it arrives
        except LookupError:
            raise Unavailable(f"{_what(target)}: no JetStream stream stores {subject}") from None
        except ConnectionError:
            raise Unavailable(
                f"{_what(target)}: lost NATS at {link.address} before JetStream stored it"
            ) from None
        _check_stored(answer.data, target)
        return
    raise Unavailable(
        f"{_what(target)}: JetStream did not confirm within {PUBLISH_ATTEMPTS} attempts"
    )


def _check_stored(answer: bytes, target: Target) -> None:
    """Raise unless ``answer`` is JetStream's acknowledgement of a stored message
    (``{"stream": ..., "seq": ...}``; a duplicate is one too)."""
    try:
        acknowledgement = orjson.loads(answer)
    except ValueError:
        raise Unavailable(f"{_what(target)}: JetStream answered something not JSON") from None
    error = acknowledgement.get("error") if isinstance(acknowledgement, dict) else None
    if error is None:
        return
    try:
        nats.js.errors.APIError.from_error(error)  # raises the error's class
    except nats.js.errors.APIError as exc:
        raise translate(exc, _what(target)) from exc


def _what(target: Target) -> str:
    return f"sending to {target.receiver!r} on {target.names.stream!r}"

"""NATS client exceptions as autocoder's, at this one boundary (the error types of docs/actions.md).

``MAPPED`` is the logic: the first class in it that an exception is an instance of decides.
A connection that is down, draining or closed, or whose outgoing buffer is full, is
``Unavailable``; a reply or acknowledgement that does not come in time is ``StoreTimeout``.
"""

from __future__ import annotations

import nats.errors
import nats.js.errors

from autocoder.errors import StoreError, StoreTimeout, Unavailable

MAPPED: tuple[tuple[type[Exception], type[StoreError]], ...] = (
    (nats.errors.NoRespondersError, Unavailable),
    (nats.errors.TimeoutError, StoreTimeout),
    (nats.errors.OutboundBufferLimitError, Unavailable),
    (nats.errors.ConnectionClosedError, Unavailable),
    (nats.errors.ConnectionDrainingError, Unavailable),
    (nats.errors.ConnectionReconnectingError, Unavailable),
    (nats.errors.StaleConnectionError, Unavailable),
    (nats.errors.NoServersError, Unavailable),
    (nats.js.errors.ServiceUnavailableError, Unavailable),
    (nats.js.errors.NoStreamResponseError, Unavailable),
    (nats.errors.Error, Unavailable),
    (TimeoutError, StoreTimeout),
    (OSError, Unavailable),
)


def translate(exc: Exception, what: str) -> StoreError:
    """``exc`` (raised by nats-py while doing ``what``) as an autocoder error."""
    for source, target in MAPPED:
        if isinstance(exc, source):
            detail = str(exc) or type(exc).__name__
            return target(f"{what}: {detail}")
    return Unavailable(f"{what}: {type(exc).__name__}: {exc}")

"""Fixtures for the NATS tests: the real nats-server with JetStream, and clean names.

The server is ``AUTOCODER_TEST_NATS_URL`` (default ``nats://127.0.0.1:4222``). When it does not
answer, the tests skip with a loud reason, except under ``CI=true``, where they fail. Each test
gets a unique system name, so concurrent runs share no stream, consumer or lease, and what it
created on the server is deleted afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterator

import nats
import pytest

from autocoder.transport.subjects import LEASE_BUCKET, token

NATS_URL = os.environ.get("AUTOCODER_TEST_NATS_URL", "nats://127.0.0.1:4222")


def require_nats() -> None:
    async def probe() -> None:
        client = await nats.connect(NATS_URL, allow_reconnect=False, connect_timeout=2)
        try:
            await client.jetstream().account_info()
        finally:
            await client.close()

    try:
        asyncio.run(probe())
    except Exception as exc:
        message = f"NATS with JetStream is not answering at {NATS_URL}: {exc!r}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: a missing server is a failure)")
        pytest.skip(message)


async def delete_system(system: str) -> None:
    """Delete every JetStream stream and lease of ``system``."""
    client = await nats.connect(NATS_URL, allow_reconnect=False, connect_timeout=2)
    js = client.jetstream()
    try:
        prefix = f"AUTOCODER~{token(system)}~"
        for info in await js.streams_info():
            if info.config.name and info.config.name.startswith(prefix):
                await js.delete_stream(info.config.name)
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.purge_stream(
                f"KV_{LEASE_BUCKET}", subject=f"$KV.{LEASE_BUCKET}.{token(system)}.>"
            )
    finally:
        await client.close()


@pytest.fixture
def nats_url() -> str:
    require_nats()
    return NATS_URL


@pytest.fixture
def system_name(nats_url: str) -> Iterator[str]:
    name = f"t{uuid.uuid4().hex[:10]}"
    yield name
    asyncio.run(delete_system(name))

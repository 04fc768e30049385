"""Fixtures for the HTTP tests: ``serve`` (start a system, get a client) and ``api``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager

import pytest

from autocoder.blueprint.model import Binding
from autocoder.runtime.component import ComposedComponent
from autocoder.system import System
from tests.http.support import MEMORY_BLUEPRINT, Running, Serve, running


@pytest.fixture
def serve() -> Serve:
    """``async with serve(yaml_text) as r`` or ``serve(components=[...], bindings=[...])``."""

    def start(
        text: str | None = None,
        *,
        components: Sequence[ComposedComponent] = (),
        bindings: Sequence[Binding] = (),
        endpoint: str = "api",
    ) -> AbstractAsyncContextManager[Running]:
        if text is not None:
            system = System.from_text(text, "<test>")
        else:
            system = System("http_test", list(components), list(bindings))
        return running(system, endpoint)

    return start


@pytest.fixture
async def api(serve: Serve) -> AsyncIterator[Running]:
    """The memory blueprint (FastAPIEndpoint → memory Store, plus a MetricsEndpoint), running."""
    async with serve(MEMORY_BLUEPRINT) as r:
        yield r

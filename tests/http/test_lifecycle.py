"""Start-up and shutdown of the endpoints: a port taken, clashing collections, graceful drain."""

from __future__ import annotations

import signal
import socket

import anyio
import httpx
import pytest

from autocoder.blueprint.model import Binding
from autocoder.components.fastapi_endpoint import FastAPIEndpoint
from autocoder.components.metrics_endpoint import MetricsEndpoint
from autocoder.components.store import Store
from autocoder.errors import StartupError
from autocoder.system import System
from tests.http.fakes import StagedStore, schemaless

pytestmark = pytest.mark.anyio


def to_store(*names: str) -> list[Binding]:
    return [Binding(from_component="api", to_component=n, stream_name=n) for n in names]


@pytest.mark.parametrize(
    ("component_type", "label"),
    [(FastAPIEndpoint, "FastAPIEndpoint"), (MetricsEndpoint, "MetricsEndpoint")],
)
async def test_a_port_already_taken_fails_start_up_with_one_clear_line(
    component_type: type[FastAPIEndpoint | MetricsEndpoint], label: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        system = System("t", [component_type("web", {"port": port})])

        with pytest.raises(StartupError) as caught:
            async with system:
                pass

    assert str(caught.value) == (
        f"web ({label}): cannot listen on 127.0.0.1:{port}: address already in use"
    )


async def test_an_unknown_host_fails_start_up() -> None:
    system = System("t", [FastAPIEndpoint("api", {"host": "no-such-host.invalid", "port": 0})])

    with pytest.raises(
        StartupError, match=r"^api \(FastAPIEndpoint\): cannot listen on no-such-host"
    ):
        async with system:
            pass


async def test_two_stores_with_one_collection_name_stop_start_up_naming_both() -> None:
    api = FastAPIEndpoint("api", {"port": 0})
    first = Store("first", {"storage_type": "memory", "table_name": "tasks"})
    second = Store("second", {"storage_type": "memory", "table_name": "tasks"})
    system = System("t", [api, first, second], to_store("first", "second"))

    with pytest.raises(StartupError) as caught:
        async with system:
            pass

    assert str(caught.value) == (
        "api (FastAPIEndpoint): collection 'tasks' is served both by 'first' (Store) on stream "
        "'first' and by 'second' (Store) on stream 'second'; serve them from separate "
        "endpoints or give their tables different names"
    )


async def test_a_collection_shadowing_a_built_in_route_stops_start_up() -> None:
    api = FastAPIEndpoint("api", {"port": 0})
    store = StagedStore("store", [schemaless("health")])
    system = System("t", [api, store], to_store("store"))

    with pytest.raises(StartupError) as caught:
        async with system:
            pass

    assert str(caught.value) == (
        "api (FastAPIEndpoint): collection 'health' of 'store' (StagedStore) clashes with the "
        "endpoint's own /health route; rename the table"
    )


async def test_a_store_that_cannot_describe_itself_stops_start_up() -> None:
    class Broken(StagedStore):
        async def process_item(self, item: object) -> object:
            return {"status": "error", "message": "database is down", "error_type": "unavailable"}

    # `unavailable` is asked again until the request timeout has passed: a short one keeps the
    # test fast.
    api = FastAPIEndpoint("api", {"port": 0, "request_timeout": 0.5})
    system = System("t", [api, Broken("store")], to_store("store"))

    with pytest.raises(StartupError) as caught:
        async with system:
            pass

    assert str(caught.value) == (
        "api (FastAPIEndpoint): 'store' (Broken) on stream 'store' serves collections "
        "but did not describe them: database is down"
    )


async def test_shutdown_lets_a_request_in_flight_finish_and_refuses_new_ones() -> None:
    store = StagedStore("store", [schemaless("jobs")], {"status": "success", "done": True})
    store.hold = True
    api = FastAPIEndpoint("api", {"port": 0})
    system = System(
        "t",
        [api, store],
        [Binding(from_component="api", to_component="store", stream_name="input")],
    )
    responses: list[httpx.Response] = []

    async with system:
        url = f"http://127.0.0.1:{api.port}"

        async def in_flight() -> None:
            async with httpx.AsyncClient(base_url=url) as client:
                responses.append(await client.get("/jobs/1"))

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(in_flight)
                while not store.seen:
                    await anyio.sleep(0.01)
                system.request_shutdown()
                # Wait until the endpoint refuses new connections, then let the store answer.
                while await accepts_connections(url):
                    await anyio.sleep(0.02)
                store.release()

    assert [r.status_code for r in responses] == [200]
    assert responses[0].json()["done"] is True


async def test_serving_leaves_signals_to_the_runtime() -> None:
    # uvicorn's own Server.serve() takes SIGINT and SIGTERM over while it serves.
    signals = (signal.SIGINT, signal.SIGTERM)
    before = {number: signal.getsignal(number) for number in signals}
    api = FastAPIEndpoint("api", {"port": 0})
    async with System("t", [api]):
        during = {number: signal.getsignal(number) for number in signals}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api.port}") as client:
            response = await client.get("/health")

    assert during == before
    assert response.status_code == 200
    assert "date" in response.headers  # uvicorn's tick, which keeps it current, runs


async def accepts_connections(url: str) -> bool:
    try:
        async with httpx.AsyncClient(base_url=url) as client:
            await client.get("/health")
    except httpx.ConnectError:
        return False
    except (httpx.RemoteProtocolError, httpx.ReadError):
        # Accepted just as the server stopped listening, then closed unanswered: the server
        # closes the connections that have no request yet once it has closed its socket
        # (seen as the connection ending early, or on uvloop as a read that failed).
        return False
    return True


async def test_urls_name_the_port_actually_listened_on() -> None:
    api = FastAPIEndpoint("api", {"port": 0})
    metrics = MetricsEndpoint("metrics", {"port": 0})
    async with System("t", [api, metrics]):
        assert api.urls() == [f"http://127.0.0.1:{api.port} (docs: /docs)"]
        assert metrics.urls() == [f"http://127.0.0.1:{metrics.port}/metrics"]
        assert api.port != 0 and metrics.port != 0


def test_listen_addresses_are_what_the_config_names() -> None:
    config = FastAPIEndpoint.Config.model_validate({"host": "0.0.0.0", "port": 8123})
    assert FastAPIEndpoint.listen_addresses(config) == [("0.0.0.0", 8123)]
    metrics_config = MetricsEndpoint.Config.model_validate({})
    assert MetricsEndpoint.listen_addresses(metrics_config) == [("127.0.0.1", 9090)]


def test_config_errors_are_refused_with_the_field_named() -> None:
    with pytest.raises(ValueError, match="port"):
        FastAPIEndpoint("api", {"port": 70000})
    with pytest.raises(ValueError, match="request_timeout"):
        FastAPIEndpoint("api", {"request_timeout": 0})
    with pytest.raises(ValueError, match="api_keys"):
        FastAPIEndpoint("api", {"api_keys": [{"tenant": "no key"}]})
    with pytest.raises(ValueError, match="path"):
        MetricsEndpoint("metrics", {"path": "metrics"})


def test_api_keys_do_not_show_in_the_config_repr() -> None:
    api = FastAPIEndpoint(
        "api", {"api_keys": ["top-secret-1", {"key": "top-secret-2", "tenant": "a"}]}
    )

    assert "top-secret" not in repr(api.config)
    assert "top-secret" not in str(api.config.model_dump())


@pytest.mark.parametrize(("host", "client_host"), [("::1", "[::1]"), ("localhost", "localhost")])
async def test_an_ipv6_address_or_a_host_name_can_be_listened_on(
    host: str, client_host: str
) -> None:
    try:
        socket.socket(socket.AF_INET6).close()
    except OSError:  # pragma: no cover - depends on the machine
        pytest.skip("no IPv6 on this machine")
    api = FastAPIEndpoint("api", {"host": host, "port": 0})
    async with System("t", [api]):
        async with httpx.AsyncClient(base_url=f"http://{client_host}:{api.port}") as client:
            response = await client.get("/health")
        if ":" in host:
            assert api.urls() == [f"http://[::1]:{api.port} (docs: /docs)"]

    assert response.status_code == 200

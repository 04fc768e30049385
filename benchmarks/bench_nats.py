"""Bindings over NATS, each beside raw nats-py doing the same work in the same run.

(a) Cross-process request/reply at 32 concurrent callers. autocoder: a component's ``request``
    (a ``get``) over a nats binding to a memory ``Store`` served by ``autocoder run
    --components store`` in another process. Baseline: raw nats-py ``request`` to a raw nats-py
    responder in another process answering from a dict (JSON both ways).
(b) ``send`` → ``process_item`` → acknowledgement. autocoder: 32 tasks ``send`` over a nats
    binding to a component that does nothing, served by ``autocoder run --components sink`` in
    another process. Baseline: 32 tasks ``js.publish`` (with a message id, as autocoder does)
    into a work-queue stream, and another process fetching batches from a durable pull
    consumer and acknowledging each message after decoding it.

Printed for each side: throughput, p99 latency (of one request; of one ``send`` / publish), and
the ratio of throughputs (target: at least 0.7). Both sides run on uvloop, alternate, and keep
their best round. Needs NATS with JetStream at ``AUTOCODER_BENCH_NATS_URL`` (default
``nats://127.0.0.1:4222``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import anyio
import nats
import orjson
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig

from autocoder import ComposedComponent, System
from autocoder.blueprint.loader import load_blueprint_text
from autocoder.logging import configure_logging

NATS_URL = os.environ.get("AUTOCODER_BENCH_NATS_URL", "nats://127.0.0.1:4222")
REPO = Path(__file__).resolve().parents[1]
LOOP = {"use_uvloop": True}
CALLERS = 32
DURATION = 3.0
ROUNDS = 3
RECORDS = 1000
MESSAGES = 6000
CONSUMED_WITHIN_SECONDS = 120.0


class Sink(ComposedComponent):
    """Processes every item by doing nothing (what is measured is the way there and back)."""


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[int(len(ordered) * 0.99)] if ordered else float("nan")


def python(*args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )


def wait_for_line(process: subprocess.Popen[bytes], text: bytes) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        if text in line:
            return
    raise RuntimeError(f"the helper process exited before saying {text!r}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def delete_streams(prefix: str) -> None:
    client = await nats.connect(NATS_URL)
    js = client.jetstream()
    for info in await js.streams_info():
        if info.config.name and info.config.name.startswith(prefix):
            await js.delete_stream(info.config.name)
    await client.close()


async def drive(one: Any, count: int | None = None) -> tuple[float, float]:
    """(operations per second, p99 seconds) of ``CALLERS`` tasks calling ``one(i)`` for
    ``DURATION`` seconds, or until ``count`` operations were made."""
    latencies: list[float] = []
    deadline = time.perf_counter() + DURATION
    issued = 0

    async def caller() -> None:
        nonlocal issued
        while time.perf_counter() < deadline if count is None else issued < count:
            i = issued
            issued += 1
            started = time.perf_counter()
            await one(i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(CALLERS):
            tg.start_soon(caller)
    return len(latencies) / (time.perf_counter() - started), p99(latencies)


# -- (a) request/reply ---------------------------------------------------------------------


async def raw_responder(subject: str) -> None:
    """The baseline's other process: answers from a dict until terminated."""
    data = {str(i): {"id": str(i), "title": f"task {i}"} for i in range(1, RECORDS + 1)}
    client = await nats.connect(NATS_URL)

    async def answer(msg: Any) -> None:
        message = orjson.loads(msg.data)
        record = data.get(message["id"])
        await msg.respond(orjson.dumps({"status": "success", "data": record}))

    await client.subscribe(subject, queue="bench", cb=answer)
    await client.flush()
    print("ready", flush=True)
    await anyio.sleep_forever()


async def raw_requests(subject: str) -> tuple[float, float]:
    client = await nats.connect(NATS_URL)

    async def one(i: int) -> None:
        payload = orjson.dumps({"action": "get", "id": str(i % RECORDS + 1)})
        reply = orjson.loads((await client.request(subject, payload, timeout=10)).data)
        assert reply["status"] == "success", reply

    try:
        return await drive(one)
    finally:
        await client.close()


REQUEST_BLUEPRINT = """\
system:
  name: {system}
  nats: {{url: "{url}"}}
  components:
    - {{name: caller, type: "benchmarks.bench_nats:Sink"}}
    - {{name: store, type: Store}}
  bindings:
    - {{from_component: caller, to_component: store, stream_name: input, transport: nats}}
"""


async def autocoder_requests(text: str) -> tuple[float, float]:
    system = System.from_loaded(load_blueprint_text(text), only=["caller"])
    async with system:
        caller = system.components["caller"]

        async def one(i: int) -> None:
            reply = await caller.request("input", {"action": "get", "id": str(i % RECORDS + 1)})
            assert reply["status"] == "success", reply

        return await drive(one)


async def fill_store(text: str) -> None:
    system = System.from_loaded(load_blueprint_text(text), only=["caller"])
    async with system:
        caller = system.components["caller"]
        for i in range(1, RECORDS + 1):
            reply = await caller.request("input", {"action": "create", "data": {"n": i}})
            assert reply["status"] == "success", reply


def request_reply() -> None:
    system = f"bench{uuid.uuid4().hex[:8]}"
    subject = f"bench.raw.{system}"
    responder = python("-m", "benchmarks.bench_nats", "responder", subject)
    with tempfile.TemporaryDirectory() as workdir:
        blueprint = Path(workdir) / "bench.yaml"
        text = REQUEST_BLUEPRINT.format(system=system, url=NATS_URL)
        blueprint.write_text(text)
        store = python(
            "-m", "autocoder", "run", str(blueprint), "--components", "store",
            "--log-level", "warning",
        )  # fmt: skip
        try:
            wait_for_line(responder, b"ready")
            wait_for_line(store, b"is up")
            anyio.run(fill_store, text, backend_options=LOOP)
            best_raw, best_ours = (0.0, 0.0), (0.0, 0.0)
            for _ in range(ROUNDS):
                raw = anyio.run(raw_requests, subject, backend_options=LOOP)
                ours = anyio.run(autocoder_requests, text, backend_options=LOOP)
                best_raw = max(best_raw, raw)
                best_ours = max(best_ours, ours)
        finally:
            stop(responder)
            stop(store)
            anyio.run(delete_streams, f"AUTOCODER~{system}~")
    report("request/reply, 32 callers", best_raw, best_ours, "rt/s")


# -- (b) send → process_item → ack -------------------------------------------------------------


async def raw_consumer(stream: str, consumer: str) -> None:
    """The baseline's other process: fetch batches, decode, acknowledge, until terminated."""
    client = await nats.connect(NATS_URL)
    js = client.jetstream()
    subscription = await js.pull_subscribe_bind(consumer, stream=stream)
    print("ready", flush=True)
    while True:
        try:
            batch = await subscription.fetch(128, timeout=1)
        except (TimeoutError, nats.errors.Error):
            # Nothing came within the second (nats-py raises asyncio's TimeoutError on some
            # paths, its own on others), or a passing status from JetStream: fetch again.
            continue
        for msg in batch:
            orjson.loads(msg.data)
            await msg.ack()


async def wait_consumed(stream: str, consumer: str) -> None:
    """Return once ``consumer`` has nothing pending or unacknowledged (fail after a while,
    rather than hang, when the consuming process stopped)."""
    client = await nats.connect(NATS_URL)
    js = client.jetstream()
    try:
        with anyio.fail_after(CONSUMED_WITHIN_SECONDS):
            while True:
                info = await js.consumer_info(stream, consumer)
                if not info.num_pending and not info.num_ack_pending:
                    return
                await anyio.sleep(0.01)
    finally:
        await client.close()


async def raw_sends(stream: str, subject: str, consumer: str) -> tuple[float, float]:
    client = await nats.connect(NATS_URL)
    js = client.jetstream()
    started = time.perf_counter()

    async def one(i: int) -> None:
        payload = orjson.dumps({"id": str(i), "n": i})
        await js.publish(subject, payload, stream=stream, headers={"Nats-Msg-Id": uuid.uuid4().hex})

    try:
        _, latency = await drive(one, MESSAGES)
        await wait_consumed(stream, consumer)
        return MESSAGES / (time.perf_counter() - started), latency
    finally:
        await client.close()


SEND_BLUEPRINT = """\
system:
  name: {system}
  nats: {{url: "{url}"}}
  components:
    - {{name: sender, type: "benchmarks.bench_nats:Sink"}}
    - {{name: sink, type: "benchmarks.bench_nats:Sink"}}
  bindings:
    - {{from_component: sender, to_component: sink, stream_name: work, transport: nats}}
"""


async def autocoder_sends(text: str, stream: str) -> tuple[float, float]:
    system = System.from_loaded(load_blueprint_text(text), only=["sender"])
    async with system:
        sender = system.components["sender"]
        started = time.perf_counter()

        async def one(i: int) -> None:
            await sender.send("work", {"id": str(i), "n": i})

        _, latency = await drive(one, MESSAGES)
        await wait_consumed(stream, "lane-0")
        return MESSAGES / (time.perf_counter() - started), latency


async def make_raw_stream(stream: str, subject: str, consumer: str) -> None:
    client = await nats.connect(NATS_URL)
    js = client.jetstream()
    await js.add_stream(
        StreamConfig(
            name=stream,
            subjects=[subject],
            storage=StorageType.FILE,
            retention=RetentionPolicy.WORK_QUEUE,
            duplicate_window=120,
        )
    )
    await js.add_consumer(
        stream, ConsumerConfig(durable_name=consumer, ack_policy=AckPolicy.EXPLICIT)
    )
    await client.close()


def sends() -> None:
    system = f"bench{uuid.uuid4().hex[:8]}"
    raw_stream, raw_subject, consumer = f"BENCHRAW~{system}", f"bench.send.{system}", "raw"
    anyio.run(make_raw_stream, raw_stream, raw_subject, consumer)
    raw_side = python("-m", "benchmarks.bench_nats", "consumer", raw_stream, consumer)
    with tempfile.TemporaryDirectory() as workdir:
        blueprint = Path(workdir) / "bench.yaml"
        text = SEND_BLUEPRINT.format(system=system, url=NATS_URL)
        blueprint.write_text(text)
        sink = python(
            "-m", "autocoder", "run", str(blueprint), "--components", "sink",
            "--log-level", "warning",
        )  # fmt: skip
        ours_stream = f"AUTOCODER~{system}~sink~work"
        try:
            wait_for_line(raw_side, b"ready")
            wait_for_line(sink, b"is up")
            best_raw, best_ours = (0.0, 0.0), (0.0, 0.0)
            for _ in range(ROUNDS):
                raw = anyio.run(raw_sends, raw_stream, raw_subject, consumer, backend_options=LOOP)
                ours = anyio.run(autocoder_sends, text, ours_stream, backend_options=LOOP)
                best_raw = max(best_raw, raw)
                best_ours = max(best_ours, ours)
        finally:
            stop(raw_side)
            stop(sink)
            anyio.run(delete_streams, f"AUTOCODER~{system}~")
            anyio.run(delete_streams, raw_stream)
    report(f"send -> process_item -> ack, {MESSAGES} messages", best_raw, best_ours, "msg/s")


def report(title: str, raw: tuple[float, float], ours: tuple[float, float], unit: str) -> None:
    print(f"{title}:")
    print(f"  {'':10} {unit:>10} {'p99 ms':>8}")
    print(f"  {'nats-py':10} {raw[0]:>10,.0f} {raw[1] * 1000:>8.2f}")
    print(f"  {'autocoder':10} {ours[0]:>10,.0f} {ours[1] * 1000:>8.2f}")
    print(f"  ratio {ours[0] / raw[0]:.2f} (target 0.7)", flush=True)


def main() -> None:
    configure_logging("json", "warning")
    print(f"NATS at {NATS_URL}; event loop: uvloop, every process", flush=True)
    request_reply()
    sends()


if __name__ == "__main__":
    if sys.argv[1] == "responder":
        anyio.run(raw_responder, sys.argv[2], backend_options=LOOP)
    elif sys.argv[1] == "consumer":
        anyio.run(raw_consumer, sys.argv[2], sys.argv[3], backend_options=LOOP)

"""``send`` over nats: nothing lost when a receiver is killed, order per key across processes."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import nats

from autocoder.transport.subjects import LEASE_BUCKET, BindingNames
from tests.nats.processes import Process, wait_until

BLUEPRINT = """\
system:
  name: {system}
  nats: {{url: "{url}"}}
  components:
    - name: sender
      type: "tests.nats.components:Sender"
      config: {{count: {count}, keys: {keys}, marker: sent.done}}
    - name: recorder
      type: "tests.nats.components:Recorder"
      config: {{output: recorded.jsonl, delay: {delay}}}
  bindings:
    - {{from_component: sender, to_component: recorder, stream_name: out, transport: nats,
       partitions: {partitions}}}
"""


def records(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def processed(path: Path) -> set[int]:
    return {int(r["item"]["n"]) for r in records(path)}  # type: ignore[index]


def write_blueprint(tmp_path: Path, **values: object) -> Path:
    path = tmp_path / "system.yaml"
    path.write_text(BLUEPRINT.format(**values))
    return path


def test_killing_a_receiver_mid_stream_loses_no_message(
    tmp_path: Path, nats_url: str, system_name: str
) -> None:
    count = 300
    blueprint = write_blueprint(
        tmp_path, system=system_name, url=nats_url, count=count, keys=1, delay=0.005, partitions=1
    )
    output = tmp_path / "recorded.jsonl"
    first = Process(tmp_path, "first", str(blueprint), "--components", "recorder", env={})
    sender = Process(tmp_path, "sender", str(blueprint), "--components", "sender", env={})
    second = None
    try:
        first.wait_up()
        wait_until(lambda: len(records(output)) >= 30, 60, "the first receiver got going")
        first.kill()  # SIGKILL: no drain, no acknowledgement of what it held
        assert len(processed(output)) < count
        second = Process(tmp_path, "second", str(blueprint), "--components", "recorder", env={})
        wait_until(lambda: (tmp_path / "sent.done").exists(), 60, "every message sent")
        wait_until(lambda: len(processed(output)) == count, 90, "every message processed")
    finally:
        assert sender.stop() == 0, sender.output()
        if second is not None:
            assert second.stop() == 0, second.output()
    seen = Counter(int(r["item"]["n"]) for r in records(output))  # type: ignore[index]
    assert set(seen) == set(range(count))
    duplicates = sum(times - 1 for times in seen.values())
    # At least once: what the killed process had not acknowledged came again.
    assert duplicates <= 128 + 1, duplicates
    in_order = [int(r["item"]["n"]) for r in records(output) if r["pid"] == second.popen.pid]  # type: ignore[index, union-attr]
    assert in_order == sorted(in_order)


async def lane_owners(url: str, system: str, partitions: int) -> set[bytes]:
    client = await nats.connect(url)
    try:
        kv = await client.jetstream().key_value(LEASE_BUCKET)
        names = BindingNames(system, "recorder", "out")
        owners = set()
        for lane in range(partitions):
            try:
                owners.add((await kv.get(names.lease_key(lane))).value or b"")
            except nats.js.errors.KeyNotFoundError:
                owners.add(b"")
        return owners
    finally:
        await client.close()


def test_two_receivers_share_four_lanes_and_keep_each_keys_order(
    tmp_path: Path, nats_url: str, system_name: str
) -> None:
    count, keys = 400, 8
    blueprint = write_blueprint(
        tmp_path, system=system_name, url=nats_url, count=count, keys=keys, delay=0.002,
        partitions=4,
    )  # fmt: skip
    output = tmp_path / "recorded.jsonl"
    receivers = [
        Process(tmp_path, f"recorder{i}", str(blueprint), "--components", "recorder", env={})
        for i in range(2)
    ]
    sender = None
    try:
        for receiver in receivers:
            receiver.wait_up()

        def shared() -> bool:
            owners = asyncio.run(lane_owners(nats_url, system_name, 4))
            return len(owners) == 2 and b"" not in owners

        wait_until(shared, 30, "the two receivers hold two lanes each")
        sender = Process(tmp_path, "sender", str(blueprint), "--components", "sender", env={})
        wait_until(lambda: len(processed(output)) == count, 90, "every message processed")
    finally:
        if sender is not None:
            assert sender.stop() == 0, sender.output()
        for receiver in receivers:
            assert receiver.stop() == 0, receiver.output()
    by_key: dict[str, list[int]] = defaultdict(list)
    pids = set()
    for record in records(output):
        item = record["item"]
        by_key[item["id"]].append(item["n"])  # type: ignore[index]
        pids.add(record["pid"])
    assert len(records(output)) == count  # no duplicates without a failure
    for key, numbers in by_key.items():
        assert numbers == sorted(numbers), f"{key} out of order: {numbers}"
    assert pids == {r.popen.pid for r in receivers}


def test_the_distributed_example_audits_every_change_in_another_process(
    tmp_path: Path, nats_url: str, system_name: str
) -> None:
    from tests.nats.processes import REPO, free_port

    text = (REPO / "blueprints" / "distributed.yaml").read_text()
    blueprint = tmp_path / "distributed.yaml"
    blueprint.write_text(text.replace('"autocoder_distributed"', f'"{system_name}"'))
    port = free_port()
    env = {"NATS_URL": nats_url, "API_PORT": str(port), "METRICS_PORT": str(free_port())}
    env["PYTHONPATH"] = f"{REPO}"
    audit_path = tmp_path / "audit.jsonl"
    env["AUDIT_PATH"] = str(audit_path)
    started = [
        Process(tmp_path, "store", str(blueprint), "--components", "store", env=env),
        Process(tmp_path, "audit", str(blueprint), "--components", "audit", env=env),
        Process(tmp_path, "api", str(blueprint), "--components", "api,metrics", env=env),
    ]
    try:
        for process in started:
            process.wait_up()
        base = f"http://127.0.0.1:{port}"
        ids = [
            httpx.post(f"{base}/tasks", json={"title": f"t{i}"}, timeout=10).json()["id"]
            for i in range(20)
        ]
        for record_id in ids[:5]:
            reply = httpx.patch(f"{base}/tasks/{record_id}", json={"done": True}, timeout=10)
            assert reply.status_code == 200, reply.text

        def audited() -> set[tuple[str, str]]:
            if not audit_path.exists():
                return set()
            events = [json.loads(line) for line in audit_path.read_text().splitlines()]
            return {(e["event"], e["id"]) for e in events}

        expected = {("created", i) for i in ids} | {("updated", i) for i in ids[:5]}
        wait_until(lambda: audited() >= expected, 30, "every change audited")
    finally:
        for process in reversed(started):
            assert process.stop() == 0, process.output()


def test_workers_of_one_command_share_the_lanes_of_their_components(
    tmp_path: Path, nats_url: str, system_name: str
) -> None:
    count = 200
    blueprint = write_blueprint(
        tmp_path, system=system_name, url=nats_url, count=count, keys=8, delay=0.002,
        partitions=4,
    )  # fmt: skip
    output = tmp_path / "recorded.jsonl"
    receivers = Process(
        tmp_path, "workers", str(blueprint), "--components", "recorder", "--workers", "2", env={}
    )
    sender = None
    try:
        receivers.wait_up()

        def shared() -> bool:
            owners = asyncio.run(lane_owners(nats_url, system_name, 4))
            return len(owners) == 2 and b"" not in owners

        wait_until(shared, 30, "the two workers hold two lanes each")
        sender = Process(tmp_path, "sender", str(blueprint), "--components", "sender", env={})
        wait_until(lambda: len(processed(output)) == count, 90, "every message processed")
    finally:
        if sender is not None:
            assert sender.stop() == 0, sender.output()
        assert receivers.stop() == 0, receivers.output()
    assert len({record["pid"] for record in records(output)}) == 2

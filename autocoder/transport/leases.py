"""Which process serves which lane of a nats binding: leases in a JetStream key-value bucket.

A lane is served by one process at a time, so that its messages are processed one after the
other whichever process runs them. The owner holds the lane's key in the bucket
``autocoder_lanes``: it takes it with an atomic ``create`` (fails when another holds it),
renews it every ``RENEW_SECONDS`` with ``update(..., last=revision)`` (fails when it lost it),
and gives it back with a ``delete`` when it stops. The bucket's entries expire
``LEASE_SECONDS`` after they were written, so a lane whose owner was killed is free again that
much later.

Processes share the lanes: each one announces itself under a member key (expiring likewise),
and holds at most its fair share, ceil(lanes / members). A process holding more gives one back
per round; one holding fewer takes free lanes. An owner stops using a lane once
``LEASE_SECONDS - MARGIN_SECONDS`` have passed since its last successful renewal, before the
server could let another process take it.
"""

from __future__ import annotations

import math
import time
import zlib
from contextlib import suppress
from dataclasses import dataclass

import nats.errors
import nats.js.errors
from nats.js.api import StorageType
from nats.js.kv import KeyValue

from autocoder.transport.connection import NatsLink
from autocoder.transport.subjects import LEASE_BUCKET, BindingNames

LEASE_SECONDS = 3.0
RENEW_SECONDS = 1.0
MARGIN_SECONDS = 0.75


@dataclass
class Lease:
    """This process's hold on one lane."""

    lane: int
    revision: int
    renewed_at: float
    held: bool = True
    #: Set when the process holds more than its share: the lane is given back after its batch.
    give_back: bool = False

    @property
    def valid(self) -> bool:
        """Held, and surely not yet taken over by another process."""
        return self.held and time.monotonic() - self.renewed_at < LEASE_SECONDS - MARGIN_SECONDS


async def lease_bucket(link: NatsLink) -> KeyValue:
    """The leases bucket, created when missing."""
    try:
        return await link.js.key_value(LEASE_BUCKET)
    except nats.js.errors.BucketNotFoundError:
        try:
            return await link.js.create_key_value(
                bucket=LEASE_BUCKET, ttl=LEASE_SECONDS, storage=StorageType.MEMORY
            )
        except nats.js.errors.BadRequestError:
            return await link.js.key_value(LEASE_BUCKET)


class LeaseKeeper:
    """Takes, renews and gives back this process's lanes of one nats binding."""

    def __init__(
        self, link: NatsLink, names: BindingNames, partitions: int, process_id: str
    ) -> None:
        self.link = link
        self.names = names
        self.partitions = partitions
        self.process_id = process_id
        self.owned: dict[int, Lease] = {}
        self._kv: KeyValue | None = None
        # Processes start looking at different lanes, so they rarely race for one.
        self._first = zlib.crc32(process_id.encode()) % partitions

    async def round(self) -> list[Lease]:
        """Renew, give back or take lanes; the leases newly taken."""
        if not self.link.connected:
            return []
        if self._kv is None:
            self._kv = await lease_bucket(self.link)
        kv = self._kv
        value = self.process_id.encode()
        await kv.put(self.names.member_key(self.process_id), value)
        for lease in list(self.owned.values()):
            try:
                lease.revision = await kv.update(
                    self.names.lease_key(lease.lane), value, last=lease.revision
                )
                lease.renewed_at = time.monotonic()
            except nats.js.errors.KeyWrongLastSequenceError:
                self.lost(lease)
        fair = math.ceil(self.partitions / await self._members())
        keeping = [lease for lease in self.owned.values() if not lease.give_back]
        if len(keeping) > fair:
            max(keeping, key=lambda lease: lease.lane).give_back = True
            return []
        taken: list[Lease] = []
        for offset in range(self.partitions):
            if len(keeping) + len(taken) >= fair:
                break
            lane = (self._first + offset) % self.partitions
            if lane in self.owned:
                continue
            try:
                revision = await kv.create(self.names.lease_key(lane), value)
            except nats.js.errors.KeyWrongLastSequenceError:
                continue
            lease = Lease(lane, revision, time.monotonic())
            self.owned[lane] = lease
            taken.append(lease)
        return taken

    async def _members(self) -> int:
        info = await self.link.js.stream_info(
            f"KV_{LEASE_BUCKET}", subjects_filter=f"$KV.{LEASE_BUCKET}.{self.names.members}"
        )
        return max(1, len(info.state.subjects or {}))

    def lost(self, lease: Lease) -> None:
        lease.held = False
        self.owned.pop(lease.lane, None)

    async def give_back(self, lease: Lease) -> None:
        """Free the lane for another process now (not only when the lease expires)."""
        self.lost(lease)
        if self._kv is not None and self.link.connected:
            with suppress(nats.errors.Error):
                await self._kv.delete(self.names.lease_key(lease.lane), last=lease.revision)

    async def give_back_all(self) -> None:
        """Free every lane and leave the members at once (a stopping process)."""
        for lease in list(self.owned.values()):
            await self.give_back(lease)
        if self._kv is not None and self.link.connected:
            with suppress(nats.errors.Error):
                await self.link.js.purge_stream(
                    f"KV_{LEASE_BUCKET}",
                    subject=f"$KV.{LEASE_BUCKET}.{self.names.member_key(self.process_id)}",
                )

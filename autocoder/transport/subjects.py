"""The names a nats binding uses on the server, readable by an operator and never ambiguous.

For the binding ``store``'s stream ``input`` of the system ``shop``:

- requests go to the subject ``autocoder.request.shop.store.input``, answered by the queue
  group ``autocoder.shop.store.input`` (one member per process running ``store``);
- sends are stored in the JetStream stream ``AUTOCODER~shop~store~input`` under the subjects
  ``autocoder.send.shop.store.input.<lane>``, consumed by the durable pull consumers
  ``lane-<lane>``;
- lanes are leased in the key-value bucket ``autocoder_lanes`` under the keys
  ``shop.store.input.lane.<lane>``, and processes announce themselves under
  ``shop.store.input.member.<process id>``.

A name's characters other than letters, digits, ``_`` and ``-`` are written ``=XX`` (hex of
each UTF-8 byte), which every kind of NATS name accepts, so no two bindings share a name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import orjson

LEASE_BUCKET = "autocoder_lanes"
_PLAIN = re.compile(r"[A-Za-z0-9_-]")


def token(name: str) -> str:
    """``name`` as one token of a subject, stream, consumer or key."""
    return "".join(
        ch if _PLAIN.fullmatch(ch) else "".join(f"={byte:02X}" for byte in ch.encode())
        for ch in name
    )


@dataclass(frozen=True)
class BindingNames:
    """Every server-side name of one (system, receiver, stream name)."""

    system: str
    receiver: str
    stream: str

    # Computed once: they are on the path of every message.
    @cached_property
    def _path(self) -> str:
        return f"{token(self.system)}.{token(self.receiver)}.{token(self.stream)}"

    @cached_property
    def request_subject(self) -> str:
        return f"autocoder.request.{self._path}"

    @cached_property
    def queue_group(self) -> str:
        return f"autocoder.{self._path}"

    @cached_property
    def jetstream_stream(self) -> str:
        return "AUTOCODER~" + self._path.replace(".", "~")

    @cached_property
    def send_subjects(self) -> str:
        """The wildcard of every lane's subject (the JetStream stream's subjects)."""
        return f"autocoder.send.{self._path}.*"

    @cached_property
    def _lane_prefix(self) -> str:
        return f"autocoder.send.{self._path}."

    def lane_subject(self, lane: int) -> str:
        return self._lane_prefix + str(lane)

    @staticmethod
    def consumer(lane: int) -> str:
        return f"lane-{lane}"

    def lease_key(self, lane: int) -> str:
        return f"{self._path}.lane.{lane}"

    def member_key(self, process_id: str) -> str:
        return f"{self._path}.member.{process_id}"

    @property
    def members(self) -> str:
        """The key filter of every member of this binding."""
        return f"{self._path}.member.*"


def encode(item: object) -> bytes:
    """A message as it travels: JSON."""
    return orjson.dumps(item)


def decode(data: bytes) -> object:
    return orjson.loads(data)

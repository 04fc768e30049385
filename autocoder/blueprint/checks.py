"""Checks across components: what no single component's config model can see.

- a component name used twice (reported where it occurs the second time);
- a binding from or to a component that does not exist, or into a component that accepts no
  input (a MetricsEndpoint), or the same binding twice;
- two components listening on one host:port (``0.0.0.0`` and ``::`` clash with every host);
- a component's ``dead_letters`` naming no stream bound from it;
- a ``transport: nats`` binding in a blueprint without ``system.nats.url``, and a nats-only
  option (``partitions``...) on a memory binding.

The checks run on the raw data, so they work even when other parts of the blueprint are
invalid, and every problem of the file is reported at once.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from autocoder.blueprint.model import STREAM_PATTERN
from autocoder.blueprint.yamltree import Located, Path
from autocoder.errors import Problem
from autocoder.runtime.component import ComposedComponent

_COMPONENTS: Path = ("system", "components")
_BINDINGS: Path = ("system", "bindings")
_NATS_ONLY = ("partitions", "partition_key", "max_deliver", "ack_wait")
_ANY_HOST = frozenset({"0.0.0.0", "::", ""})
_SAME_HOST = {"localhost": "127.0.0.1"}


@dataclass
class ComponentEntry:
    """A component as far as the loader got with it: its class and config when they are valid."""

    index: int
    name: str | None
    type_name: str | None
    cls: type[ComposedComponent] | None = None
    config: BaseModel | None = None

    @property
    def path(self) -> Path:
        return (*_COMPONENTS, self.index)


def cross_component_problems(located: Located, entries: list[ComponentEntry]) -> list[Problem]:
    """Every cross-component problem of the blueprint."""
    return [
        *_duplicate_names(located, entries),
        *_binding_problems(located, entries),
        *_address_clashes(located, entries),
        *_dead_letter_problems(located, entries),
        *_transport_problems(located),
    ]


def _at(located: Located, path: Path, message: str) -> list[Problem]:
    node = located.node_at(path)
    return [] if node is None else [located.problem(node, message)]


def _duplicate_names(located: Located, entries: list[ComponentEntry]) -> list[Problem]:
    first: dict[str, ComponentEntry] = {}
    problems: list[Problem] = []
    for entry in entries:
        if entry.name is None:
            continue
        if entry.name not in first:
            first[entry.name] = entry
            continue
        node = located.node_at((*first[entry.name].path, "name"))
        line = node.start_mark.line + 1 if node is not None else 0
        problems += _at(
            located,
            (*entry.path, "name"),
            f"duplicate component name {entry.name!r} (first defined on line {line})",
        )
    return problems


def _dead_letter_problems(located: Located, entries: list[ComponentEntry]) -> list[Problem]:
    sent: dict[str, list[str]] = {}
    for index in range(_binding_count(located)):
        path = (*_BINDINGS, index)
        sender = located.string_at((*path, "from_component"))
        stream = located.string_at((*path, "stream_name"))
        if isinstance(sender, str) and isinstance(stream, str):
            sent.setdefault(sender, []).append(stream)
    problems: list[Problem] = []
    for entry in entries:
        stream = located.string_at((*entry.path, "dead_letters"))
        if entry.name is None or stream is None or not re.match(STREAM_PATTERN, stream):
            continue  # not a stream name: the model says so
        streams = sent.get(entry.name, [])
        if stream not in streams:
            bound = ", ".join(dict.fromkeys(streams)) or "none"
            problems += _at(
                located,
                (*entry.path, "dead_letters"),
                f"dead_letters: {entry.name!r} has no binding named {stream!r} to send them on "
                f"(streams bound from it: {bound}); bind it, e.g. to a Store, "
                f"with from_component: {entry.name}, stream_name: {stream}",
            )
    return problems


def _binding_count(located: Located) -> int:
    system = located.data.get("system") if isinstance(located.data, dict) else None
    raw = system.get("bindings") if isinstance(system, dict) else None
    return len(raw) if isinstance(raw, list) else 0


def _unknown_component(name: str, role: str, entries: list[ComponentEntry]) -> str:
    names = list(dict.fromkeys(entry.name for entry in entries if entry.name is not None))
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    listing = ", ".join(names) or "none"
    return f"binding {role} unknown component {name!r}{hint} (components: {listing})"


def _binding_problems(located: Located, entries: list[ComponentEntry]) -> list[Problem]:
    by_name: dict[str, ComponentEntry] = {}
    for entry in entries:
        if entry.name is not None:
            by_name.setdefault(entry.name, entry)
    problems: list[Problem] = []
    seen: dict[tuple[str, str, str], int] = {}
    for index in range(_binding_count(located)):
        path = (*_BINDINGS, index)
        sender = located.string_at((*path, "from_component"))
        receiver = located.string_at((*path, "to_component"))
        if isinstance(sender, str) and sender not in by_name:
            message = _unknown_component(sender, "from", entries)
            problems += _at(located, (*path, "from_component"), message)
        if isinstance(receiver, str) and receiver not in by_name:
            message = _unknown_component(receiver, "to", entries)
            problems += _at(located, (*path, "to_component"), message)
        elif isinstance(receiver, str):
            target = by_name[receiver]
            if target.cls is not None and not target.cls.accepts_input:
                problems += _at(
                    located,
                    (*path, "to_component"),
                    f"component {receiver!r} ({target.type_name}) accepts no input; "
                    "no binding can point into it",
                )
        stream = located.string_at((*path, "stream_name"))
        if isinstance(sender, str) and isinstance(receiver, str) and isinstance(stream, str):
            key = (sender, receiver, stream)
            if key in seen:
                problems += _at(
                    located,
                    path,
                    f"duplicate binding {sender} -> {receiver} ({stream}); "
                    f"the same binding is bindings[{seen[key]}]",
                )
            else:
                seen[key] = index
    return problems


def _transport_problems(located: Located) -> list[Problem]:
    has_url = isinstance(_value_at(located.data, ("system", "nats", "url")), str)
    problems: list[Problem] = []
    transports: dict[tuple[str, str], str] = {}
    for index in range(_binding_count(located)):
        path = (*_BINDINGS, index)
        binding = _value_at(located.data, path)
        if not isinstance(binding, dict):
            continue
        transport = binding.get("transport", "memory")
        sender, stream = binding.get("from_component"), binding.get("stream_name")
        if isinstance(sender, str) and isinstance(stream, str) and isinstance(transport, str):
            first = transports.setdefault((sender, stream), transport)
            if first != transport:
                problems += _at(
                    located,
                    (*path, "transport"),
                    f"stream {stream!r} of {sender!r} is bound with transport {first} "
                    f"elsewhere; all bindings of one sender stream share one transport",
                )
        if transport == "nats" and not has_url:
            problems += _at(
                located,
                (*path, "transport"),
                "a nats binding needs the NATS server's address: add "
                "system.nats.url (e.g. nats://127.0.0.1:4222)",
            )
        elif transport == "memory":
            for option in _NATS_ONLY:
                if option in binding:
                    problems += _at(
                        located,
                        (*path, option),
                        f"{option!r} applies only to a binding with transport: nats",
                    )
    return problems


def _clash(first: tuple[str, int], second: tuple[str, int]) -> bool:
    (host_a, port_a), (host_b, port_b) = first, second
    if port_a != port_b or port_a == 0:
        return False
    if host_a in _ANY_HOST or host_b in _ANY_HOST:
        return True
    return _SAME_HOST.get(host_a, host_a) == _SAME_HOST.get(host_b, host_b)


def _port_path(located: Located, entry: ComponentEntry, port: int) -> Path:
    """The ``port`` key holding ``port`` in the entry's config, else the config, else the entry."""
    config_path = (*entry.path, "config")
    for path in located.values:
        inside = len(path) > len(config_path) and path[: len(config_path)] == config_path
        if inside and path[-1] == "port" and _value_at(located.data, path) == port:
            return path
    return config_path if config_path in located.values else entry.path


def _value_at(data: Any, path: Path) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _address_clashes(located: Located, entries: list[ComponentEntry]) -> list[Problem]:
    taken: list[tuple[tuple[str, int], ComponentEntry]] = []
    problems: list[Problem] = []
    for entry in entries:
        if entry.cls is None or entry.config is None:
            continue
        try:
            addresses = entry.cls.listen_addresses(entry.config)
        except Exception as exc:
            problems += _at(
                located, entry.path, f"cannot tell the addresses it listens on: {exc!r}"
            )
            continue
        for address in addresses:
            for other_address, other in taken:
                if other is not entry and _clash(address, other_address):
                    host, port = address
                    problems += _at(
                        located,
                        _port_path(located, entry, port),
                        f"component {entry.name!r} listens on {host}:{port}, which component "
                        f"{other.name!r} already uses ({other_address[0]}:{other_address[1]})",
                    )
                    break
            taken.append((address, entry))
    return problems

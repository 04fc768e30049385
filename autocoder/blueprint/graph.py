"""A blueprint's components and bindings as a Mermaid or Graphviz DOT diagram.

Each component is a box labelled with its name and type; each binding is an arrow from sender
to receiver labelled with its stream name. The output is deterministic (file order), so a
diagram can be checked into a repository and diffed.
"""

from __future__ import annotations

import re

from autocoder.blueprint.model import Blueprint

FORMATS = ("mermaid", "dot")

_MERMAID_ID = re.compile(r"[^A-Za-z0-9_]")
_MERMAID_KEYWORDS = frozenset(
    {"end", "graph", "flowchart", "subgraph", "style", "class", "classdef", "click", "linkstyle"}
)


def render(blueprint: Blueprint, fmt: str = "mermaid") -> str:
    """The diagram of ``blueprint`` in ``fmt`` (one of ``FORMATS``), ending with a newline."""
    if fmt == "mermaid":
        return to_mermaid(blueprint)
    if fmt == "dot":
        return to_dot(blueprint)
    raise ValueError(f"unknown graph format {fmt!r} (known: {', '.join(FORMATS)})")


def _mermaid_ids(names: list[str]) -> dict[str, str]:
    """A Mermaid-safe node id per component name (``-`` would read as part of an arrow)."""
    ids: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        candidate = _MERMAID_ID.sub("_", name)
        while candidate in used or candidate.lower() in _MERMAID_KEYWORDS:
            candidate += "_"
        used.add(candidate)
        ids[name] = candidate
    return ids


def _mermaid_text(text: str) -> str:
    return (
        text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    )


def to_mermaid(blueprint: Blueprint) -> str:
    """A Mermaid flowchart, left to right."""
    system = blueprint.system
    ids = _mermaid_ids([component.name for component in system.components])
    lines = ["flowchart LR"]
    for component in system.components:
        label = f"{_mermaid_text(component.name)}<br/><i>{_mermaid_text(component.type)}</i>"
        lines.append(f'    {ids[component.name]}["{label}"]')
    for binding in system.bindings:
        sender = ids.get(binding.from_component, binding.from_component)
        receiver = ids.get(binding.to_component, binding.to_component)
        stream = _mermaid_text(binding.stream_name)
        if binding.transport == "nats":  # across processes: a dotted arrow
            lines.append(f'    {sender} -.->|"{stream} (nats)"| {receiver}')
        else:
            lines.append(f'    {sender} -->|"{stream}"| {receiver}')
    return "\n".join(lines) + "\n"


def _dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(blueprint: Blueprint) -> str:
    """A Graphviz digraph, left to right, one box per component."""
    system = blueprint.system
    lines = [
        f"digraph {_dot_string(system.name)} {{",
        "    rankdir=LR;",
        "    node [shape=box];",
    ]
    for component in system.components:
        label = _dot_string(component.name + "\n" + component.type)
        lines.append(f"    {_dot_string(component.name)} [label={label}];")
    for binding in system.bindings:
        sender = _dot_string(binding.from_component)
        receiver = _dot_string(binding.to_component)
        if binding.transport == "nats":  # across processes: a dashed edge
            label = _dot_string(f"{binding.stream_name} (nats)")
            lines.append(f"    {sender} -> {receiver} [label={label}, style=dashed];")
        else:
            lines.append(f"    {sender} -> {receiver} [label={_dot_string(binding.stream_name)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"

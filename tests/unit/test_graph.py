"""Mermaid and DOT diagrams of a blueprint's components and bindings."""

from __future__ import annotations

from textwrap import dedent

import pytest

from autocoder.blueprint.graph import render
from autocoder.blueprint.model import Blueprint

BLUEPRINT = Blueprint.model_validate(
    {
        "system": {
            "name": "shop",
            "components": [
                {"name": "api", "type": "FastAPIEndpoint"},
                {"name": "order-store", "type": "Store"},
                {"name": "end", "type": 'pkg.mod:Audit"Log'},
            ],
            "bindings": [
                {"from_component": "api", "to_component": "order-store", "stream_name": "input"},
                {"from_component": "api", "to_component": "end", "stream_name": "audit"},
            ],
        }
    }
)


def test_mermaid() -> None:
    assert render(BLUEPRINT) == dedent("""\
        flowchart LR
            api["api<br/><i>FastAPIEndpoint</i>"]
            order_store["order-store<br/><i>Store</i>"]
            end_["end<br/><i>pkg.mod:Audit#quot;Log</i>"]
            api -->|"input"| order_store
            api -->|"audit"| end_
        """)


def test_dot() -> None:
    assert render(BLUEPRINT, "dot") == dedent("""\
        digraph "shop" {
            rankdir=LR;
            node [shape=box];
            "api" [label="api\\nFastAPIEndpoint"];
            "order-store" [label="order-store\\nStore"];
            "end" [label="end\\npkg.mod:Audit\\"Log"];
            "api" -> "order-store" [label="input"];
            "api" -> "end" [label="audit"];
        }
        """)


def test_mermaid_ids_stay_distinct_when_names_differ_only_in_punctuation() -> None:
    blueprint = Blueprint.model_validate(
        {
            "system": {
                "name": "s",
                "components": [{"name": "a-b", "type": "Store"}, {"name": "a_b", "type": "Store"}],
            }
        }
    )
    lines = render(blueprint).splitlines()
    assert [line.split("[")[0].strip() for line in lines[1:]] == ["a_b", "a_b_"]


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="svg"):
        render(BLUEPRINT, "svg")


def test_a_nats_binding_is_drawn_dotted_and_named_so() -> None:
    blueprint = Blueprint.model_validate(
        {
            "system": {
                "name": "split",
                "nats": {"url": "nats://127.0.0.1:4222"},
                "components": [{"name": "a", "type": "Store"}, {"name": "b", "type": "Store"}],
                "bindings": [
                    {
                        "from_component": "a",
                        "to_component": "b",
                        "stream_name": "changes",
                        "transport": "nats",
                    }
                ],
            }
        }
    )
    assert '    a -.->|"changes (nats)"| b\n' in render(blueprint)
    assert '"a" -> "b" [label="changes (nats)", style=dashed];' in render(blueprint, "dot")

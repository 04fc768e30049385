"""``autocoder graph``: Mermaid by default, DOT on request, problems for a bad blueprint."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from textwrap import dedent

from tests.e2e.conftest import Autocoder

BLUEPRINT = """\
    system:
      name: shop
      components:
        - {name: api, type: FastAPIEndpoint}
        - {name: orders, type: Store}
        - {name: cache, type: Store}
      bindings:
        - {from_component: api, to_component: orders, stream_name: input}
        - {from_component: api, to_component: cache, stream_name: cache}
    """


def test_mermaid_is_the_default(autocoder: Autocoder, write: Callable[[str, str], Path]) -> None:
    write("shop.yaml", BLUEPRINT)
    result = autocoder("graph", "shop.yaml")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == dedent("""\
        flowchart LR
            api["api<br/><i>FastAPIEndpoint</i>"]
            orders["orders<br/><i>Store</i>"]
            cache["cache<br/><i>Store</i>"]
            api -->|"input"| orders
            api -->|"cache"| cache
        """)


def test_dot(autocoder: Autocoder, write: Callable[[str, str], Path]) -> None:
    write("shop.yaml", BLUEPRINT)
    result = autocoder("graph", "shop.yaml", "--format", "dot")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == dedent("""\
        digraph "shop" {
            rankdir=LR;
            node [shape=box];
            "api" [label="api\\nFastAPIEndpoint"];
            "orders" [label="orders\\nStore"];
            "cache" [label="cache\\nStore"];
            "api" -> "orders" [label="input"];
            "api" -> "cache" [label="cache"];
        }
        """)


def test_invalid_blueprint_prints_its_problems(
    autocoder: Autocoder, write: Callable[[str, str], Path]
) -> None:
    write("bad.yaml", "system:\n  name: s\n  components:\n    - {name: a, type: Stor}\n")
    result = autocoder("graph", "bad.yaml")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith("bad.yaml:4:23: error: unknown component type 'Stor'")


def test_unknown_format_is_a_usage_error(
    autocoder: Autocoder, write: Callable[[str, str], Path]
) -> None:
    write("shop.yaml", BLUEPRINT)
    result = autocoder("graph", "shop.yaml", "--format", "svg")
    assert (result.returncode, result.stdout) == (2, "")
    assert "invalid choice: 'svg'" in result.stderr

"""Checks across components: names, types, bindings and listen addresses, each located."""

from __future__ import annotations

from textwrap import dedent

import pytest

from autocoder.blueprint.loader import load_blueprint_text
from autocoder.errors import BlueprintError, Problem
from autocoder.runtime import registry
from tests.unit import components_for_tests as helpers

# The helpers' module name is part of every type below, so lines put the type last.
LISTENER = helpers.type_name(helpers.Listener)
EXPORTER = helpers.type_name(helpers.Exporter)
ECHO = helpers.type_name(helpers.Echo)


def problems_of(text: str) -> list[Problem]:
    text = dedent(text).replace("LISTENER", LISTENER).replace("EXPORTER", EXPORTER)
    text = text.replace("ECHO", ECHO)
    with pytest.raises(BlueprintError) as info:
        load_blueprint_text(text, "bp.yaml", environ={})
    return info.value.problems


def locations(text: str) -> list[tuple[int, int]]:
    return [(p.line, p.column) for p in problems_of(text)]


def test_duplicate_component_name_is_reported_at_the_second() -> None:
    problems = problems_of("""\
        system:
          name: demo
          components:
            - name: worker
              type: ECHO
            - name: other
              type: ECHO
            - name: worker
              type: ECHO
        """)
    assert [(p.line, p.column) for p in problems] == [(8, 13)]
    assert "line 4" in problems[0].message


def test_unknown_type_lists_known_types_and_the_closest() -> None:
    [problem] = problems_of("""\
        system:
          name: demo
          components:
            - name: api
              type: FastAPIEndpoin
        """)
    assert (problem.line, problem.column) == (5, 13)
    assert "'FastAPIEndpoint'" in problem.message
    assert all(known in problem.message for known in registry.known_types())


@pytest.mark.parametrize(
    "type_name",
    [
        "tests.unit.no_such_module:Thing",
        "tests.unit.components_for_tests:NoSuchClass",
        "tests.unit.components_for_tests:NotAComponent",
        "tests.unit.components_for_tests:",
    ],
)
def test_unimportable_class_types_are_located(type_name: str) -> None:
    text = f"""\
        system:
          name: demo
          components:
            - name: x
              type: "{type_name}"
        """
    assert locations(text) == [(5, 13)]


def test_binding_from_and_to_unknown_components() -> None:
    problems = problems_of("""\
        system:
          name: demo
          components:
            - name: worker
              type: ECHO
          bindings:
            - from_component: wroker
              to_component: nobody
              stream_name: input
        """)
    assert [(p.line, p.column) for p in problems] == [(7, 23), (8, 21)]
    assert "'worker'" in problems[0].message


def test_binding_into_a_component_that_accepts_no_input() -> None:
    assert locations("""\
        system:
          name: demo
          components:
            - name: worker
              type: ECHO
            - name: metrics
              type: EXPORTER
          bindings:
            - from_component: metrics
              to_component: worker
              stream_name: input
            - from_component: worker
              to_component: metrics
              stream_name: input
        """) == [(13, 21)]


def test_duplicate_binding_is_reported_at_the_second() -> None:
    assert locations("""\
        system:
          name: demo
          components:
            - {name: a, type: ECHO}
            - {name: b, type: ECHO}
          bindings:
            - {from_component: a, to_component: b, stream_name: input}
            - {from_component: a, to_component: b, stream_name: other}
            - {from_component: a, to_component: b, stream_name: input}
        """) == [(9, 7)]


def test_fan_in_and_fan_out_bindings_are_valid() -> None:
    text = dedent("""\
        system:
          name: demo
          components:
            - {name: a, type: ECHO}
            - {name: b, type: ECHO}
            - {name: c, type: ECHO}
          bindings:
            - {from_component: a, to_component: c, stream_name: input}
            - {from_component: b, to_component: c, stream_name: input}
            - {from_component: c, to_component: a, stream_name: out}
            - {from_component: c, to_component: b, stream_name: out}
        """).replace("ECHO", ECHO)
    assert len(load_blueprint_text(text).blueprint.system.bindings) == 4


def test_two_components_on_one_host_port_clash_at_the_second_port() -> None:
    problems = problems_of("""\
        system:
          name: demo
          components:
            - name: first
              config: {port: 8000}
              type: LISTENER
            - name: second
              config:
                host: 127.0.0.1
                port: 8000
              type: LISTENER
        """)
    assert [(p.line, p.column) for p in problems] == [(10, 15)]
    assert "'first'" in problems[0].message


def test_default_port_clash_is_reported_at_the_component_config() -> None:
    assert locations("""\
        system:
          name: demo
          components:
            - {name: first, type: LISTENER}
            - name: second
              config: {mode: slow}
              type: LISTENER
        """) == [(6, 15)]


def test_any_address_clashes_with_every_host_on_its_port() -> None:
    assert locations("""\
        system:
          name: demo
          components:
            - name: api
              config: {host: 10.0.0.5, port: 9090}
              type: LISTENER
            - name: metrics
              type: EXPORTER
        """) == [(7, 7)]


@pytest.mark.parametrize(
    ("host_a", "host_b", "clash"),
    [
        ("127.0.0.1", "127.0.0.2", False),
        ("127.0.0.1", "localhost", True),
        ("0.0.0.0", "10.1.1.1", True),
        ("::", "127.0.0.1", True),
    ],
)
def test_which_hosts_clash(host_a: str, host_b: str, clash: bool) -> None:
    text = dedent(f"""\
        system:
          name: demo
          components:
            - name: a
              config: {{host: "{host_a}", port: 8100}}
              type: LISTENER
            - name: b
              config: {{host: "{host_b}", port: 8100}}
              type: LISTENER
        """).replace("LISTENER", LISTENER)
    if clash:
        with pytest.raises(BlueprintError):
            load_blueprint_text(text)
    else:
        load_blueprint_text(text)


def test_different_ports_and_port_zero_never_clash() -> None:
    text = dedent("""\
        system:
          name: demo
          components:
            - {name: a, config: {port: 8001}, type: LISTENER}
            - {name: b, config: {port: 8002}, type: LISTENER}
            - {name: c, config: {port: 0}, type: LISTENER}
            - {name: d, config: {port: 0}, type: LISTENER}
        """).replace("LISTENER", LISTENER)
    assert len(load_blueprint_text(text).components) == 4

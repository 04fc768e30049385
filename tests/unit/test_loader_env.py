"""Environment interpolation inside loaded blueprints: typed after substitution, located errors."""

from __future__ import annotations

from textwrap import dedent
from typing import Any

import pytest
import yaml

from autocoder.blueprint import yamltree
from autocoder.blueprint.loader import load_blueprint_text
from autocoder.errors import BlueprintError
from tests.unit import components_for_tests as helpers

LISTENER = helpers.type_name(helpers.Listener)
ECHO = helpers.type_name(helpers.Echo)


def listener_config(port_value: str, environ: dict[str, str]) -> Any:
    text = f"""\
        system:
          name: demo
          components:
            - name: listener
              type: "{LISTENER}"
              config:
                port: {port_value}
        """
    return load_blueprint_text(dedent(text), "bp.yaml", environ=environ).components[0].config


def test_default_of_a_plain_scalar_is_read_as_yaml() -> None:
    assert listener_config("${PORT:-8000}", {}).port == 8000


def test_set_variable_of_a_plain_scalar_is_read_as_yaml() -> None:
    assert listener_config("${PORT}", {"PORT": "8123"}).port == 8123


def test_quoted_scalar_stays_a_string() -> None:
    text = f"""\
        system:
          name: demo
          components:
            - name: echo
              type: "{ECHO}"
              config: {{greeting: "${{N:-42}}"}}
        """
    config = load_blueprint_text(dedent(text), environ={}).components[0].config
    assert config == helpers.Echo.Config(greeting="42")


def test_partial_interpolation_stays_a_string() -> None:
    text = f"""\
        system:
          name: demo
          components:
            - name: echo
              type: "{ECHO}"
              config:
                greeting: v${{N:-42}}
        """
    config = load_blueprint_text(dedent(text), environ={}).components[0].config
    assert config == helpers.Echo.Config(greeting="v42")


def test_dollar_dollar_brace_is_a_literal() -> None:
    text = f"""\
        system:
          name: "$${{NOT_A_VAR}}"
          components: [{{name: echo, type: "{ECHO}"}}]
        """
    loaded = load_blueprint_text(dedent(text), environ={})
    assert loaded.blueprint.system.name == "${NOT_A_VAR}"


def test_variables_in_the_system_part_are_interpolated() -> None:
    text = f"""\
        system:
          name: ${{SYSTEM_NAME}}
          shutdown_timeout: ${{GRACE:-2.5}}
          components: [{{name: echo, type: "{ECHO}"}}]
        """
    loaded = load_blueprint_text(dedent(text), environ={"SYSTEM_NAME": "prod"})
    assert (loaded.blueprint.system.name, loaded.blueprint.system.shutdown_timeout) == (
        "prod",
        2.5,
    )


def test_keys_are_not_interpolated() -> None:
    text = f"""\
        system:
          name: demo
          components:
            - name: echo
              type: "{ECHO}"
              config: {{"${{KEY}}": 1}}
        """
    with pytest.raises(BlueprintError) as info:
        load_blueprint_text(dedent(text), "bp.yaml", environ={"KEY": "times"})
    assert [(p.line, p.column) for p in info.value.problems] == [(6, 16)]


def test_unset_variable_is_reported_at_its_node_naming_it() -> None:
    text = f"""\
        system:
          name: demo
          components:
            - name: listener
              type: "{LISTENER}"
              config:
                host: ${{LISTEN_HOST}}
                port: ${{LISTEN_PORT}}
        """
    with pytest.raises(BlueprintError) as info:
        load_blueprint_text(dedent(text), "bp.yaml", environ={})
    problems = info.value.problems
    # One problem per variable; no follow-up type error for the port that could not be read.
    assert [(p.line, p.column) for p in problems] == [(7, 15), (8, 15)]
    assert ["LISTEN_HOST" in problems[0].message, "LISTEN_PORT" in problems[1].message] == [
        True,
        True,
    ]


def test_interpolated_value_is_validated_at_its_node() -> None:
    with pytest.raises(BlueprintError) as info:
        listener_config("${PORT}", {"PORT": "eighty"})
    assert [(p.line, p.column) for p in info.value.problems] == [(7, 15)]


def test_environ_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOCODER_TEST_PORT", "8765")
    text = f"""\
        system:
          name: demo
          components:
            - name: listener
              type: "{LISTENER}"
              config: {{port: "${{AUTOCODER_TEST_PORT}}"}}
        """
    assert load_blueprint_text(dedent(text)).components[0].config == helpers.Listener.Config(
        port=8765
    )


def test_no_follow_up_error_from_a_validator_of_the_mapping_holding_an_unset_variable() -> None:
    text = """\
        system:
          name: demo
          components:
            - name: cache
              type: Store
              config:
                storage_type: database
                database_url: ${CACHE_URL}
        """
    with pytest.raises(BlueprintError) as info:
        load_blueprint_text(dedent(text), "bp.yaml", environ={})
    assert [(p.line, p.column) for p in info.value.problems] == [(8, 23)]


def test_number_like_value_for_a_string_field_says_to_quote_the_reference() -> None:
    text = f"""\
        system:
          name: demo
          components:
            - name: echo
              type: "{ECHO}"
              config:
                greeting: ${{GREETING}}
        """
    with pytest.raises(BlueprintError) as info:
        load_blueprint_text(dedent(text), "bp.yaml", environ={"GREETING": "0755"})
    [problem] = info.value.problems
    assert (problem.line, problem.column) == (7, 19)
    assert '"${GREETING}"' in problem.message


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("${V:-8000}", 8000),
        ("${V:-2.5}", 2.5),
        ("${V:-false}", False),
        ("${V:-yes}", True),
        ("${V:-text}", "text"),
        ('"${V:-8000}"', "8000"),
        ("'${V:-8000}'", "8000"),
        ("port-${V:-8000}", "port-8000"),
    ],
)
@pytest.mark.parametrize("loader", ["SafeLoader", "CSafeLoader"])
def test_the_blueprint_holds_the_yaml_type_of_a_single_plain_reference(
    written: str, value: object, loader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not hasattr(yaml, loader):
        pytest.skip(f"PyYAML without {loader}")
    monkeypatch.setattr(yamltree, "_LOADER", getattr(yaml, loader))
    text = f"""\
        system:
          name: demo
          components:
            - name: c
              type: "{helpers.type_name(helpers.Anything)}"
              config:
                value: {written}
        """
    loaded = load_blueprint_text(dedent(text), environ={})
    held = loaded.blueprint.system.components[0].config["value"]
    assert (type(held), held) == (type(value), value)

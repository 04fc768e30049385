"""Loading blueprints: the result of a valid file, and every problem of an invalid one located.

Problems are compared as (line, column) tuples: the location is the contract.
"""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from autocoder.blueprint.loader import load_blueprint, load_blueprint_text
from autocoder.errors import BlueprintError, Problem
from tests.unit import components_for_tests as helpers
from tests.unit.store_spec_examples import STORE_SPEC_EXAMPLES

ECHO = helpers.type_name(helpers.Echo)
LISTENER = helpers.type_name(helpers.Listener)
NESTED = helpers.type_name(helpers.Nested)


def problems_of(text: str, environ: dict[str, str] | None = None) -> list[Problem]:
    with pytest.raises(BlueprintError) as info:
        load_blueprint_text(dedent(text), "bp.yaml", environ=environ or {})
    assert all(problem.file == "bp.yaml" for problem in info.value.problems)
    return info.value.problems


def locations(text: str, environ: dict[str, str] | None = None) -> list[tuple[int, int]]:
    return [(p.line, p.column) for p in problems_of(text, environ)]


def test_valid_blueprint_loads_in_file_order() -> None:
    loaded = load_blueprint_text(
        dedent(f"""\
            system:
              name: demo
              components:
                - name: listener
                  type: "{LISTENER}"
                  config: {{port: 8001, mode: slow}}
                - name: echo
                  type: "{ECHO}"
              bindings:
                - from_component: listener
                  to_component: echo
                  stream_name: input
            """),
        "demo.yaml",
    )
    assert loaded.path == "demo.yaml"
    assert loaded.blueprint.system.name == "demo"
    assert [c.spec.name for c in loaded.components] == ["listener", "echo"]
    assert [c.cls for c in loaded.components] == [helpers.Listener, helpers.Echo]
    listener_config = loaded.components[0].config
    assert isinstance(listener_config, helpers.Listener.Config)
    assert (listener_config.port, listener_config.mode) == (8001, "slow")
    assert loaded.components[1].config == helpers.Echo.Config()
    assert loaded.blueprint.system.bindings[0].buffer_size == 100


def test_builtin_store_type_resolves() -> None:
    loaded = load_blueprint_text(
        "system: {name: s, components: [{name: st, type: Store, config: {storage_type: memory}}]}"
    )
    assert loaded.components[0].cls.__name__ == "Store"


def test_load_blueprint_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "bp.yaml"
    path.write_text(f"system: {{name: s, components: [{{name: e, type: '{ECHO}'}}]}}\n")
    assert load_blueprint(path).path == str(path)


def test_missing_file_is_one_problem_for_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(BlueprintError) as info:
        load_blueprint(path)
    [problem] = info.value.problems
    assert (problem.file, problem.line, problem.column) == (str(path), 0, 0)
    assert problem.message.startswith("cannot read: ")


def test_non_utf8_file_is_one_problem(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"system:\n  name: caf\xe9\n")
    with pytest.raises(BlueprintError) as info:
        load_blueprint(path)
    assert [(p.line, p.column) for p in info.value.problems] == [(0, 0)]


def test_syntax_error_is_one_problem_at_its_mark() -> None:
    text = """\
        system:
          name: demo
          components: [a, b
        """
    assert locations(text) == [(4, 1)]


def test_tab_indentation_is_a_syntax_error_at_the_tab() -> None:
    assert locations("system:\n\tname: demo\n") == [(2, 1)]


def test_several_documents_are_a_syntax_error() -> None:
    assert locations("system: {}\n---\nsystem: {}\n") == [(2, 1)]


@pytest.mark.parametrize(
    ("text", "location"),
    [("", (1, 1)), ("# nothing\n", (1, 1)), ("- a\n- b\n", (1, 1)), ("\n\n42\n", (3, 1))],
)
def test_file_that_is_not_a_mapping(text: str, location: tuple[int, int]) -> None:
    assert locations(text) == [location]


def test_unknown_missing_and_wrong_keys_everywhere() -> None:
    text = f"""\
        system:
          name: demo
          colour: blue
          components:
            - type: "{ECHO}"
              config: {{times: many, greting: hi}}
            - name: 9lives
              type: "{ECHO}"
              restart: {{max_restarts: -1}}
          bindings:
            - {{from_component: x}}
        """
    assert locations(text) == [
        (3, 3),  # colour: unknown key
        (5, 7),  # component without a name: at the mapping lacking it
        (6, 23),  # times: not an int
        (6, 29),  # greting: unknown key, at the key
        (7, 13),  # 9lives: name pattern
        (9, 31),  # max_restarts: negative
        (11, 7),  # binding lacks to_component
        (11, 7),  # binding lacks stream_name
        (11, 24),  # binding from an unknown component
    ]


def test_unknown_key_suggests_the_closest_known_key() -> None:
    [problem] = problems_of(
        f"system: {{name: s, components: [{{name: e, type: '{ECHO}', config: {{greting: x}}}}]}}"
    )
    assert "'greeting'" in problem.message


def test_errors_deep_inside_a_config_point_at_the_node() -> None:
    text = f"""\
        system:
          name: demo
          components:
            - name: db
              type: "{NESTED}"
              config:
                database:
                  pool:
                    min_size: small
                    maxsize: 3
                  migrations:
                    - version: "1"
                      sql: 42
                    - sql: "CREATE TABLE t (id INT)"
        """
    assert locations(text) == [
        (8, 11),  # database lacks url: the database mapping
        (9, 23),  # min_size: not an int
        (10, 13),  # maxsize: unknown key
        (13, 20),  # sql: neither a string nor a mapping (one problem for the union)
        (14, 15),  # second migration lacks version
    ]


def test_missing_config_key_points_at_the_component_when_config_is_absent() -> None:
    text = f"""\
        system:
          name: demo
          components:
            - name: db
              type: "{NESTED}"
        """
    assert locations(text) == [(4, 7)]


def test_config_that_is_not_a_mapping() -> None:
    text = f"""\
        system:
          name: demo
          components:
            - {{name: e, config: [1, 2], type: "{ECHO}"}}
        """
    assert locations(text) == [(4, 25)]


def test_duplicate_mapping_keys_are_reported_at_the_second() -> None:
    text = f"""\
        system:
          name: demo
          components:
            - name: e
              type: "{ECHO}"
              config:
                times: 2
                times: 3
          name: again
        """
    problems = problems_of(text)
    assert [(p.line, p.column) for p in problems] == [(8, 9), (9, 3)]
    assert "line 7" in problems[0].message


def test_all_problems_of_a_file_are_reported_together() -> None:
    text = """\
        system:
          name: demo
          components:
            - {name: a, type: Stor}
            - {name: b, type: "components_for_tests_missing:Thing"}
            - {name: c, type: "${TYPE}"}
        """
    assert locations(text) == [(4, 23), (5, 23), (6, 23)]


def test_merge_keys_and_anchors_work() -> None:
    loaded = load_blueprint_text(
        dedent(f"""\
            system:
              name: demo
              components:
                - name: a
                  type: "{LISTENER}"
                  config: &common {{host: 127.0.0.1, port: 8001}}
                - name: b
                  type: "{LISTENER}"
                  config:
                    <<: *common
                    port: 8002
            """)
    )
    ports = [getattr(c.config, "port", None) for c in loaded.components]
    assert ports == [8001, 8002]


@pytest.mark.parametrize("name", list(STORE_SPEC_EXAMPLES))
def test_store_spec_examples_load_as_written(name: str) -> None:
    loaded = load_blueprint_text(STORE_SPEC_EXAMPLES[name], f"{name}.yaml", environ={})
    specs = loaded.blueprint.system.components
    assert [c.spec for c in loaded.components] == specs
    assert [c.cls.__name__ for c in loaded.components] == [spec.type for spec in specs]


def test_bad_mapping_key_is_reported_at_the_key() -> None:
    text = f"""\
        system:
          name: demo
          components:
            - name: db
              type: "{NESTED}"
              config:
                database:
                  url: x
                  migrations:
                    - version: "1"
                      sql:
                        postgresql: "CREATE TABLE t (id INT)"
                        oracle: "CREATE TABLE t (id INT)"
        """
    [problem] = problems_of(text)
    assert (problem.line, problem.column) == (13, 17)
    assert "'oracle'" in problem.message


@pytest.mark.parametrize(
    ("text", "location"),
    [
        ("system:\n  name: x\n  components: !!python/object:os.system [a]\n", (3, 15)),
        ("system: !!set {a}\n", (1, 9)),
        ("system:\n  name: !!int x\n  components: [{name: a, type: Store}]\n", (2, 9)),
        ("system:\n  name: !custom x\n  components: [{name: a, type: Store}]\n", (2, 9)),
        ("system: &loop\n  name: x\n  components: *loop\n", (1, 9)),
    ],
    ids=["python tag", "set", "bad int", "unknown tag", "recursive alias"],
)
def test_yaml_that_safe_loading_refuses_is_one_located_problem(
    text: str, location: tuple[int, int]
) -> None:
    assert locations(text) == [location]


def test_collection_as_a_key_is_one_problem_at_the_key() -> None:
    text = """\
        system:
          ? [a, b]
          : value
          name: x
          components: [{name: a, type: Store}]
        """
    assert locations(text) == [(2, 5)]


def test_control_character_is_one_problem_at_the_character() -> None:
    [problem] = problems_of("system:\n  name: 'a\x01b'\n")
    assert (problem.line, problem.column) == (2, 11)
    assert "\n" not in problem.message


def test_columns_count_characters_not_bytes() -> None:
    text = "\ufeffsystem:\n  name: démo\n  components: [{name: ünïcode, type: Stoor}]\n"
    assert locations(text) == [(3, 23), (3, 38)]

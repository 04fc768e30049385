"""What ``autocoder components`` says about a type: description, fields, types, defaults."""

from __future__ import annotations

from textwrap import dedent

from autocoder.blueprint.catalog import describe, type_text
from tests.unit import components_for_tests as helpers

NESTED = helpers.type_name(helpers.Nested)


def test_nested_config_fields_are_indented_under_their_field() -> None:
    entry = describe(NESTED)
    assert entry.error is None
    assert "\n".join(entry.lines) == dedent(f"""\
        {NESTED}: A config nested a few levels deep, with lists and a union.
          config:
            database: Database (required)
              url: str (required)
              pool: Pool
                min_size: int = 1
                max_size: int = 10
              migrations: list[Migration] = []
                version: str (required)
                sql: str | dict['postgresql' | 'mysql' | 'sqlite', str] (required)
            testing_mode: bool = False""")


def test_description_attribute_wins_over_the_docstring() -> None:
    entry = describe(helpers.type_name(helpers.Echo))
    assert entry.lines[0].endswith(": Replies with the item it receives.")


def test_type_that_cannot_load_says_why() -> None:
    entry = describe("tests.unit.no_such_module:Thing")
    assert entry.lines == []
    assert entry.error is not None and "no_such_module" in entry.error


def test_type_text() -> None:
    assert type_text(int | None) == "int | None"
    assert type_text(list[dict[str, int]]) == "list[dict[str, int]]"


def test_every_config_field_of_every_built_in_is_described() -> None:
    from autocoder.blueprint.catalog import catalog

    for entry in catalog():
        if ":" in entry.lines[0].split(" ")[0]:
            continue  # an entry point of another package
        fields = [line for line in entry.lines[2:] if line.strip()]
        undescribed = [line.strip() for line in fields if "  # " not in line]
        assert not undescribed, f"{entry.lines[0]} has fields without a description"

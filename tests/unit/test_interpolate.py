"""Environment interpolation of blueprint strings: ${VAR}, ${VAR:-default}, $${."""

from __future__ import annotations

import pytest

from autocoder.blueprint.interpolate import interpolate, is_single_reference

ENV = {"HOST": "db.internal", "EMPTY": "", "PORT": "5432"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain text", "plain text"),
        ("${HOST}", "db.internal"),
        ("postgresql://${HOST}:${PORT}/app", "postgresql://db.internal:5432/app"),
        ("${MISSING:-fallback}", "fallback"),
        ("${EMPTY:-fallback}", "fallback"),
        ("${HOST:-fallback}", "db.internal"),
        ("${MISSING:-}", ""),
        ("${MISSING:-a:b/c}", "a:b/c"),
        ("$${HOST}", "${HOST}"),
        ("price: $5 and $$", "price: $5 and $$"),
        ("$HOST", "$HOST"),
    ],
)
def test_values(text: str, expected: str) -> None:
    result = interpolate(text, ENV)
    assert result.errors == []
    assert result.value == expected


def test_unset_variable_is_an_error_naming_it() -> None:
    result = interpolate("postgresql://${DB_USER}@${HOST}/x", ENV)
    assert len(result.errors) == 1
    assert "DB_USER" in result.errors[0]


def test_every_unset_variable_is_reported() -> None:
    result = interpolate("${A}-${B}", {})
    assert len(result.errors) == 2
    assert ["A" in result.errors[0], "B" in result.errors[1]] == [True, True]


def test_empty_but_set_variable_without_default_is_empty() -> None:
    assert interpolate("x${EMPTY}y", ENV).value == "xy"


@pytest.mark.parametrize("text", ["${HOST", "${ HOST }", "${1X}", "${}", "${A:default}"])
def test_malformed_references_are_errors(text: str) -> None:
    assert len(interpolate(text, ENV).errors) == 1


def test_single_reference() -> None:
    assert is_single_reference("${PORT:-8000}")
    assert not is_single_reference("${A}${B}")
    assert not is_single_reference("x${A}")
    assert not is_single_reference("$${A}")

"""``autocoder schema``: a draft 2020-12 JSON Schema that accepts the shipped blueprints."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from tests.e2e.conftest import BLUEPRINTS, Autocoder


@pytest.fixture
def schema(autocoder: Autocoder) -> dict[str, Any]:
    result = autocoder("schema")
    assert (result.returncode, result.stderr) == (0, "")
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_schema_is_a_valid_draft_2020_12_schema(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_shipped_blueprints_exist() -> None:
    assert BLUEPRINTS, "blueprints/*.yaml: none found"


def test_schema_accepts_every_shipped_blueprint(schema: dict[str, Any]) -> None:
    validator = Draft202012Validator(schema)
    for path in BLUEPRINTS:
        document = yaml.safe_load(path.read_text())
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
        assert errors == [], path.name


def test_schema_rejects_what_validate_rejects(schema: dict[str, Any]) -> None:
    validator = Draft202012Validator(schema)
    good = yaml.safe_load(BLUEPRINTS[0].read_text()) if BLUEPRINTS else None
    assert good is not None and validator.is_valid(good)
    unknown_top_level = {**good, "version": 2}
    assert [e.message for e in validator.iter_errors(unknown_top_level)] == [
        "Additional properties are not allowed ('version' was unexpected)"
    ]
    store = {"name": "s", "type": "Store", "config": {"storage_typ": "memory"}}
    unknown_config_key = {"system": {"name": "x", "components": [store]}}
    assert not validator.is_valid(unknown_config_key)


def test_schema_output_is_stable(autocoder: Autocoder, schema: dict[str, Any]) -> None:
    assert json.loads(autocoder("schema").stdout) == schema

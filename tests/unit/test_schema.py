"""The JSON Schema of the blueprint format agrees with the loader on what is valid."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from autocoder.blueprint.loader import load_blueprint_text
from autocoder.blueprint.schema import blueprint_schema
from autocoder.errors import BlueprintError
from autocoder.runtime import registry
from tests.unit.store_spec_examples import STORE_SPEC_EXAMPLES


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = blueprint_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def system(*components: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"system": {"name": "demo", "components": list(components), **extra}}


VALID = {
    "memory store": system({"name": "s", "type": "Store", "config": {"storage_type": "memory"}}),
    "store without config": system({"name": "s", "type": "Store"}),
    "env reference for an int": system(
        {"name": "api", "type": "FastAPIEndpoint", "config": {"port": "${PORT:-8000}"}}
    ),
    "env reference for an enum": system(
        {"name": "s", "type": "Store", "config": {"storage_type": "${STORAGE:-memory}"}}
    ),
    "class type with any config": system(
        {"name": "c", "type": "tests.unit.components_for_tests:Echo", "config": {"times": 2}}
    ),
    "bindings and restart": system(
        {"name": "a", "type": "Store", "restart": {"max_restarts": 1, "backoff_seconds": 0.5}},
        {"name": "b", "type": "Store"},
        bindings=[{"from_component": "a", "to_component": "b", "stream_name": "input"}],
        shutdown_timeout=3,
    ),
}

INVALID = {
    "unknown top-level key": {**system({"name": "s", "type": "Store"}), "version": 2},
    "unknown system key": system({"name": "s", "type": "Store"}, colour="blue"),
    "no components": system(),
    "unknown type": system({"name": "s", "type": "Stor"}),
    "unknown config key": system({"name": "api", "type": "FastAPIEndpoint", "config": {"prot": 1}}),
    "wrong config type": system(
        {"name": "api", "type": "FastAPIEndpoint", "config": {"port": "eighty"}}
    ),
    "bad enum value": system({"name": "s", "type": "Store", "config": {"storage_type": "disk"}}),
    "enhanced store without config": system({"name": "s", "type": "V5EnhancedStore"}),
    "bad component name": system({"name": "9s", "type": "Store"}),
    "binding without stream": system(
        {"name": "s", "type": "Store"}, bindings=[{"from_component": "s", "to_component": "s"}]
    ),
}


@pytest.mark.parametrize("name", list(STORE_SPEC_EXAMPLES))
def test_store_spec_examples_are_valid(validator: Draft202012Validator, name: str) -> None:
    document = yaml.safe_load(STORE_SPEC_EXAMPLES[name])
    assert [error.message for error in validator.iter_errors(document)] == []


@pytest.mark.parametrize("name", list(VALID))
def test_valid_documents(validator: Draft202012Validator, name: str) -> None:
    assert [error.message for error in validator.iter_errors(VALID[name])] == []
    load_blueprint_text(yaml.safe_dump(VALID[name]), environ={})


@pytest.mark.parametrize("name", list(INVALID))
def test_invalid_documents(validator: Draft202012Validator, name: str) -> None:
    assert not validator.is_valid(INVALID[name])
    with pytest.raises(BlueprintError):
        load_blueprint_text(yaml.safe_dump(INVALID[name]), environ={})


def test_every_loadable_registered_type_is_offered(validator: Draft202012Validator) -> None:
    spec = blueprint_schema()["$defs"]["ComponentSpec"]
    offered = spec["properties"]["type"]["anyOf"][0]["enum"]
    assert offered == registry.known_types()
    assert [rule["if"]["properties"]["type"]["const"] for rule in spec["allOf"]] == offered


def test_the_schema_speaks_for_itself() -> None:
    # Editors show these descriptions; they may not send users to a document they lack.
    text = json.dumps(blueprint_schema())
    assert "SPEC" not in text

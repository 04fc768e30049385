"""V5EnhancedStore configuration: the store spec's shape, and one located problem per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from autocoder.blueprint.loader import load_blueprint, load_blueprint_text
from autocoder.components.enhanced_store import V5EnhancedStoreConfig
from autocoder.errors import BlueprintError
from tests.unit.store_spec_examples import STORE_SPEC_EXAMPLES

BLUEPRINTS = Path(__file__).resolve().parents[2] / "blueprints"


def problems(config_yaml: str) -> list[str]:
    """The problems of a blueprint with one V5EnhancedStore whose config is ``config_yaml``."""
    indented = "\n".join("        " + line for line in config_yaml.strip().splitlines())
    text = (
        "system:\n"
        "  name: t\n"
        "  components:\n"
        "    - name: s\n"
        "      type: V5EnhancedStore\n"
        "      config:\n"
        f"{indented}\n"
    )
    with pytest.raises(BlueprintError) as caught:
        load_blueprint_text(text, "bp.yaml", environ={})
    return [str(p) for p in caught.value.problems]


def test_the_store_spec_v5_examples_validate_as_written() -> None:
    v5 = [text for text in STORE_SPEC_EXAMPLES.values() if "V5EnhancedStore" in text]
    assert len(v5) == 2
    for text in v5:
        load_blueprint_text(text, "example.yaml", environ={})


@pytest.mark.parametrize("name", ["production.yaml", "multi_store.yaml"])
def test_the_runnable_blueprints_validate(name: str) -> None:
    loaded = load_blueprint(BLUEPRINTS / name, environ={})
    stores = [c for c in loaded.components if c.spec.type == "V5EnhancedStore"]
    assert len(stores) == 1
    config = stores[0].config
    assert isinstance(config, V5EnhancedStoreConfig)
    assert config.dialect == "postgresql"
    tables = config.database.schema_.tables
    created = " ".join(str(m.sql) for m in config.database.schema_.migrations)
    for table in tables:
        assert f"CREATE TABLE {table} " in created


def test_production_blueprint_in_testing_mode_uses_sqlite() -> None:
    loaded = load_blueprint(BLUEPRINTS / "production.yaml", environ={"TESTING_MODE": "true"})
    config = next(c.config for c in loaded.components if c.spec.name == "production_store")
    assert isinstance(config, V5EnhancedStoreConfig)
    assert (config.dialect, config.url) == ("sqlite", "sqlite:///:memory:")


def test_a_migration_without_sql_for_the_database_used() -> None:
    found = problems(
        """
database:
  type: mysql
  connection_string: mysql://root@127.0.0.1/test
  schema:
    tables: [t]
    migrations:
      - version: "1"
        sql: {postgresql: "CREATE TABLE t (id INT PRIMARY KEY)"}
"""
    )
    assert len(found) == 1
    assert found[0].startswith("bp.yaml:")
    assert "migration 1 has no sql for mysql" in found[0]


def test_versions_that_are_the_same_version() -> None:
    found = problems(
        """
database:
  connection_string: postgresql://db/x
  schema:
    tables: [t]
    migrations:
      - {version: "1", sql: "SELECT 1"}
      - {version: "01", sql: "SELECT 2"}
"""
    )
    assert any("'1' and '01' are the same version" in p for p in found), found


def test_pool_bounds_and_unknown_keys_and_missing_url() -> None:
    found = problems(
        """
database:
  connection_string: postgresql://db/x
  connection_pool: {min_size: 5, max_size: 2, timeout: 1}
  schema: {tables: [t], extra: 1}
"""
    )
    text = "\n".join(found)
    assert "min_size 5 is larger than max_size 2" in text
    assert "extra" in text
    missing = problems("database:\n  schema: {tables: [t]}\n")
    assert any("connection_string is required unless testing_mode" in p for p in missing)


def test_a_url_that_does_not_match_the_type() -> None:
    found = problems(
        """
database:
  type: postgresql
  connection_string: mysql://root@127.0.0.1/test
  schema: {tables: [t]}
"""
    )
    assert any("does not match" in p for p in found), found


def test_table_names_must_be_identifiers_and_listed_once() -> None:
    bad = problems("database:\n  schema: {tables: ['a b']}\ntesting_mode: true\n")
    assert any("table name 'a b' is not an identifier" in p for p in bad), bad
    twice = problems("database:\n  schema: {tables: [a, a]}\ntesting_mode: true\n")
    assert any("tables listed twice: a" in p for p in twice), twice

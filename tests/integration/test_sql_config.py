"""Database URLs and types: what each scheme means, and one clear line for each mistake."""

from __future__ import annotations

import pytest

from autocoder.errors import StartupError
from autocoder.storage.sql.database import Database
from autocoder.storage.sql.dialects import check_identifier, dialect_of, placeholders, quote


@pytest.mark.parametrize(
    ("url", "dialect", "host_port"),
    [
        ("postgresql://u:p@db.example:6543/app", "postgresql", "db.example:6543"),
        ("postgres://u@db.example/app", "postgresql", "db.example:5432"),
        ("mysql://root@127.0.0.1/test", "mysql", "127.0.0.1:3306"),
        ("mariadb://root@127.0.0.1:3307/test", "mysql", "127.0.0.1:3307"),
        ("sqlite:///data/tasks.db", "sqlite", "data/tasks.db"),
        ("sqlite:////var/lib/app/tasks.db", "sqlite", "/var/lib/app/tasks.db"),
    ],
)
def test_the_scheme_names_the_database(url: str, dialect: str, host_port: str) -> None:
    database = Database(url)
    assert database.dialect == dialect
    assert database.host_port == host_port


def test_the_password_is_masked_in_the_safe_url() -> None:
    database = Database("postgresql://app:s3cr3t@db.example:5432/app")
    assert database.safe_url == "postgresql://app:***@db.example:5432/app"
    assert "s3cr3t" not in repr(database)


def test_an_unknown_scheme_is_one_clear_error() -> None:
    with pytest.raises(
        StartupError, match="cannot tell the database type from the URL scheme 'oracle'"
    ):
        dialect_of("oracle://db/app")


def test_a_type_that_contradicts_the_url_is_refused() -> None:
    with pytest.raises(StartupError, match="database_type 'mysql' does not match the URL scheme"):
        dialect_of("postgresql://db/app", "mysql")
    with pytest.raises(StartupError, match="unknown database_type 'oracle'"):
        dialect_of("postgresql://db/app", "oracle")


def test_pool_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="invalid pool bounds min_size=5 max_size=2"):
        Database("postgresql://db/app", min_size=5, max_size=2)


@pytest.mark.parametrize("name", ["tasks", "_t1", "T" * 63])
def test_identifiers_that_are_accepted(name: str) -> None:
    assert check_identifier(name) == name
    assert quote(name, "mysql") == f"`{name}`"
    assert quote(name, "postgresql") == f'"{name}"'


@pytest.mark.parametrize("name", ["1tasks", "tasks-x", 'a"b', "a`b", "T" * 64, "", "tâches"])
def test_identifiers_that_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="invalid identifier"):
        quote(name, "postgresql")


def test_placeholders_in_each_driver_style() -> None:
    sql = "SELECT a FROM t WHERE b = ? AND c LIKE '5%' AND d = ?"
    assert (
        placeholders(sql, "postgresql") == "SELECT a FROM t WHERE b = $1 AND c LIKE '5%' AND d = $2"
    )
    assert placeholders(sql, "mysql") == "SELECT a FROM t WHERE b = %s AND c LIKE '5%%' AND d = %s"
    assert placeholders(sql, "sqlite") == sql

"""What differs between PostgreSQL, MySQL/MariaDB and SQLite, kept out of the query code.

- ``dialect_of(url, database_type)``: which dialect a URL speaks (``postgresql://``,
  ``postgres://``, ``mysql://``, ``mariadb://``, ``sqlite:///``), checked against an explicit type.
- ``check_identifier`` / ``quote``: table and column names are checked against
  ``[A-Za-z_][A-Za-z0-9_]{0,62}`` and quoted, so no input reaches SQL as text.
- ``placeholders``: SQL written with ``?`` placeholders in the driver's own style
  (``$1`` for asyncpg, ``%s`` for aiomysql, ``?`` for sqlite3), cached.
- ``native``: the same, leaving SQL without parameters as written.

The driver calls themselves are in ``drivers``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import urlsplit

from autocoder.errors import ConfigurationError

Dialect = Literal["postgresql", "mysql", "sqlite"]
DIALECTS: tuple[Dialect, ...] = ("postgresql", "mysql", "sqlite")

#: URL scheme → dialect. ``mariadb://`` is read as ``mysql://`` (the same driver serves both).
SCHEMES: dict[str, Dialect] = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "sqlite",
}

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def scheme_dialect(url: str) -> Dialect | None:
    """The dialect ``url``'s scheme names (``postgresql+asyncpg://`` → postgresql), if any."""
    return SCHEMES.get(urlsplit(url).scheme.lower().split("+", 1)[0])


def dialect_of(url: str, database_type: str | None = None) -> Dialect:
    """The dialect of ``url``; ``database_type`` (when given) must agree with the scheme."""
    scheme = urlsplit(url).scheme.lower().split("+", 1)[0]
    implied = SCHEMES.get(scheme)
    if database_type is not None:
        wanted = SCHEMES.get(database_type.lower())
        if wanted is None:
            raise ConfigurationError(
                f"unknown database_type {database_type!r}: use postgresql, mysql or sqlite"
            )
        if implied is not None and implied != wanted:
            raise ConfigurationError(
                f"database_type {database_type!r} does not match the URL scheme {scheme!r}"
            )
        return wanted
    if implied is None:
        raise ConfigurationError(
            f"cannot tell the database type from the URL scheme {scheme!r}: "
            "use postgresql://, mysql:// or sqlite:///, or set database_type"
        )
    return implied


def sqlite_in_memory(path: str) -> bool:
    """Whether the SQLite database at ``path`` (what follows ``sqlite:///``, a query string
    included or not) lives in memory: one process only, and no write-ahead log."""
    base = path.split("?", 1)[0]
    return base in ("", ":memory:") or base.startswith("file::memory:") or "mode=memory" in path


def check_identifier(name: str, what: str = "identifier") -> str:
    """``name`` when it is a safe SQL identifier, else ``ValueError`` naming it."""
    if not isinstance(name, str) or IDENTIFIER.fullmatch(name) is None:
        raise ValueError(
            f"invalid {what} {name!r}: use letters, digits and _, starting with a letter or _, "
            "at most 63 characters"
        )
    return name


def quote(name: str, dialect: Dialect) -> str:
    """``name`` checked and quoted for ``dialect`` (backticks for MySQL, double quotes else)."""
    check_identifier(name)
    return f"`{name}`" if dialect == "mysql" else f'"{name}"'


@lru_cache(maxsize=512)
def placeholders(sql: str, dialect: Dialect) -> str:
    """``sql`` with its ``?`` placeholders in the driver's style (``?`` in literals included)."""
    if dialect == "postgresql":
        parts = sql.split("?")
        out = [parts[0]]
        for number, part in enumerate(parts[1:], start=1):
            out.append(f"${number}{part}")
        return "".join(out)
    if dialect == "mysql":
        return sql.replace("%", "%%").replace("?", "%s")
    return sql


def native(sql: str, dialect: Dialect, params: Sequence[Any]) -> str:
    """``sql`` (``?`` placeholders) as the driver takes it: converted when ``params`` are given;
    without parameters it goes as written (so a MySQL ``%`` stays a ``%``)."""
    return placeholders(sql, dialect) if params else sql

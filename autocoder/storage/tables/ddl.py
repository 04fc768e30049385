"""SQL text as users write it in migrations: split, translated per dialect, run on a connection.

Migrations are arbitrary multi-statement DDL; drivers run one statement at a time (sqlite3)
or read ``:name``/``%`` specially. So they are split here (quotes, comments, PostgreSQL dollar
quoting and trigger bodies respected) and each statement runs as written on a connection of the
execution layer through ``RawSession``, which also gives the migration runner and schema reflection
parameterised queries with one placeholder style (``?``) on every driver.

PostgreSQL-flavoured DDL is translated for SQLite and MySQL when a migration's ``sql`` is one
string: ``SERIAL``/``BIGSERIAL`` keys, ``JSONB``, ``TIMESTAMPTZ`` and ``NOW()``. A per-dialect
mapping is run as written.
"""

from __future__ import annotations

import re
from typing import Any

from autocoder.storage.sql.database import Connection
from autocoder.storage.sql.dialects import DIALECTS, Dialect, native

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_TRIGGER = re.compile(r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP\w*\s+)?TRIGGER\b", re.I)


def split_statements(sql: str, dialect: Dialect) -> list[str]:
    """The statements of ``sql``, without trailing semicolons or empty statements.

    Semicolons inside quotes, comments, PostgreSQL dollar-quoted bodies and the
    ``BEGIN … END`` body of a SQLite/MySQL trigger do not end a statement.
    """
    statements: list[str] = []
    start = 0
    depth = 0  # BEGIN/CASE nesting inside a trigger body
    i = 0
    n = len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"`":
            i = _skip_quoted(sql, i, ch, backslash=dialect == "mysql")
            continue
        if sql.startswith("--", i) or (ch == "#" and dialect == "mysql"):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        if ch == "$" and dialect == "postgresql":
            tag = _DOLLAR_TAG.match(sql, i)
            if tag and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")):
                end = sql.find(tag.group(0), tag.end())
                i = n if end < 0 else end + len(tag.group(0))
                continue
        if ch.isalpha() or ch == "_":
            word = _WORD.match(sql, i)
            assert word is not None
            keyword = word.group(0).upper()
            if dialect != "postgresql" and _TRIGGER.match(sql[start:]):
                if keyword in ("BEGIN", "CASE"):
                    depth += 1
                elif keyword == "END" and depth > 0:
                    depth -= 1
            i = word.end()
            continue
        if ch == ";" and depth == 0:
            _append(statements, sql[start:i])
            start = i + 1
        i += 1
    _append(statements, sql[start:])
    return statements


def _skip_quoted(sql: str, i: int, quote: str, *, backslash: bool) -> int:
    j = i + 1
    while j < len(sql):
        if backslash and sql[j] == "\\":
            j += 2
            continue
        if sql[j] == quote:
            if sql.startswith(quote, j + 1):  # a doubled quote is an escaped one
                j += 2
                continue
            return j + 1
        j += 1
    return j


def _append(statements: list[str], text: str) -> None:
    if _strip_comments(text).strip():
        statements.append(text.strip())


def _strip_comments(text: str) -> str:
    return re.sub(r"--[^\n]*|/\*.*?\*/", "", text, flags=re.S)


# PostgreSQL spelling → (SQLite, MySQL) spelling. Applied outside quoted text only.
_TRANSLATIONS: list[tuple[re.Pattern[str], str, str]] = [
    (
        re.compile(r"\b(?:BIG|SMALL)?SERIAL\s+PRIMARY\s+KEY\b", re.I),
        "INTEGER PRIMARY KEY AUTOINCREMENT",
        "BIGINT AUTO_INCREMENT PRIMARY KEY",
    ),
    (re.compile(r"\bBIGSERIAL\b", re.I), "INTEGER", "BIGINT AUTO_INCREMENT"),
    (re.compile(r"\bSERIAL\b", re.I), "INTEGER", "INTEGER AUTO_INCREMENT"),
    (re.compile(r"\bJSONB\b", re.I), "JSON", "JSON"),
    (re.compile(r"\bTIMESTAMP\s+WITH(?:OUT)?\s+TIME\s+ZONE\b", re.I), "TIMESTAMP", "TIMESTAMP"),
    (re.compile(r"\bTIMESTAMPTZ\b", re.I), "TIMESTAMP", "TIMESTAMP"),
    (re.compile(r"\bNOW\(\)", re.I), "CURRENT_TIMESTAMP", "CURRENT_TIMESTAMP"),
]


def translate(sql: str, dialect: Dialect) -> str:
    """PostgreSQL-flavoured DDL rewritten for ``dialect`` (unchanged for PostgreSQL)."""
    if dialect == "postgresql":
        return sql
    column = 1 if dialect == "sqlite" else 2
    pieces = re.split(r"('(?:[^']|'')*')", sql)  # keep string literals as they are
    for index in range(0, len(pieces), 2):
        text = pieces[index]
        for rule in _TRANSLATIONS:
            pattern, replacement = rule[0], str(rule[column])
            text = pattern.sub(replacement, text)
        pieces[index] = text
    return "".join(pieces)


__all__ = ["DIALECTS", "Dialect", "RawSession", "split_statements", "translate"]


class RawSession:
    """Queries on one lent connection (``autocoder.storage.sql.database.Connection``).

    Placeholders are ``?`` on every dialect; they are rewritten to the driver's style. Only
    ``fetch`` and ``execute`` with parameters rewrite placeholders: ``run_script`` runs SQL text
    exactly as written, one statement at a time.
    """

    def __init__(self, conn: Connection, dialect: Dialect) -> None:
        self.conn = conn
        self.dialect = dialect

    async def execute(self, sql: str, *params: Any) -> None:
        """Run one statement (with ``?`` placeholders when ``params`` are given)."""
        await self.conn.execute(native(sql, self.dialect, params), params)

    async def fetch(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows of one query, as tuples."""
        rows = await self.conn.fetch(native(sql, self.dialect, params), params)
        return [tuple(row) for row in rows]

    async def run_script(self, sql: str) -> int:
        """Run every statement of ``sql`` in order; returns how many ran."""
        statements = split_statements(sql, self.dialect)
        for statement in statements:
            await self.execute(statement)
        return len(statements)

    async def begin(self, *, immediate: bool = False) -> None:
        """Start a transaction (``BEGIN IMMEDIATE`` on SQLite takes the write lock at once)."""
        if self.dialect == "sqlite":
            await self.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        elif self.dialect == "mysql":
            await self.execute("START TRANSACTION")
        else:
            await self.execute("BEGIN")

    async def commit(self) -> None:
        await self.execute("COMMIT")

    async def rollback(self) -> None:
        await self.execute("ROLLBACK")

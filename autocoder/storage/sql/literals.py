"""Values written into MySQL/MariaDB statements as literals, for statements of many rows.

aiomysql sends no prepared statements: it escapes every parameter in Python, one call per
value, into the statement's text. For a group-commit batch that is several hundred values
(the rows' keys, their JSON, the change history's events), and the escaping cost more than the
statements' round trips: 256 values of a 32-write batch took 320 µs to escape, 70 µs as hex.
So the statements of a batch carry their strings as hex literals with a charset introducer
(``_utf8mb4 X'…'``), which need no escaping and cannot end early whatever the text holds, and
their integers as digits.
"""

from __future__ import annotations


def mysql_text(value: str) -> str:
    """``value`` as a MySQL string literal: its UTF-8 bytes in hex, read as utf8mb4."""
    return "_utf8mb4 X'" + value.encode().hex() + "'"


def mysql_int(value: int) -> str:
    """``value`` as a MySQL integer literal (an ``int``, never text)."""
    return str(int(value))


#: The longest text of statements sent in one round trip, in characters (the literals are
#: ASCII: bytes too). aiomysql's ``executemany`` splits its statements at about this size
#: (1,024,000): texts no longer pass every server's default ``max_allowed_packet``
#: (MariaDB 16M, MySQL 64M).
MYSQL_TEXT_LIMIT = 1_000_000


def mysql_statements(head: str, rows: list[str], tail: str = "") -> list[str]:
    """``head`` + ``rows`` joined by commas + ``tail``, as several statements when one would
    be longer than ``MYSQL_TEXT_LIMIT`` (a row longer than that goes in one of its own)."""
    statements: list[str] = []
    chunk: list[str] = []
    size = len(head) + len(tail)
    for row in rows:
        if chunk and size + len(row) + 2 > MYSQL_TEXT_LIMIT:
            statements.append(head + ", ".join(chunk) + tail)
            chunk, size = [], len(head) + len(tail)
        chunk.append(row)
        size += len(row) + 2
    if chunk:
        statements.append(head + ", ".join(chunk) + tail)
    return statements


def mysql_texts(statements: list[str]) -> list[str]:
    """``statements`` joined into as few texts as keep each within ``MYSQL_TEXT_LIMIT`` (a
    statement longer than that alone in one), in order: one round trip each."""
    texts: list[str] = []
    chunk: list[str] = []
    size = 0
    for statement in statements:
        if chunk and size + len(statement) + 2 > MYSQL_TEXT_LIMIT:
            texts.append("; ".join(chunk))
            chunk, size = [], 0
        chunk.append(statement)
        size += len(statement) + 2
    if chunk:
        texts.append("; ".join(chunk))
    return texts

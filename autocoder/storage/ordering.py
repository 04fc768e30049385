"""Type-strict equality and a total order over JSON values, for stores that filter in Python.

Equality: ``true`` is not ``1`` and ``"1"`` is not ``1`` (as in SQL JSON comparisons); a
missing field matches nothing. Order: values of different JSON types sort by type (null,
string, number, boolean, array, object — PostgreSQL's jsonb order); a missing field sorts
after every value, so last ascending and first descending.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from autocoder.storage.backend import Record

_MISSING = object()


def same_json(a: Any, b: Any) -> bool:
    """JSON equality that keeps booleans apart from numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def field_value(record: Record, field: str) -> Any:
    if field == "id":
        return record.id
    return record.data.get(field, _MISSING)


def matches(record: Record, where: dict[str, Any]) -> bool:
    """Whether every ``where`` field of ``record`` equals the given value."""
    for field, expected in where.items():
        value = field_value(record, field)
        if value is _MISSING or not same_json(value, expected):
            return False
    return True


def _rank(value: Any) -> tuple[int, Any]:
    if value is _MISSING:
        return (6, 0)
    if value is None:
        return (0, 0)
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, bool):
        return (3, value)
    if isinstance(value, int | float):
        return (2, value)
    if isinstance(value, list):
        return (4, len(value))
    return (5, len(value))


def sort_key(field: str) -> Callable[[Record], tuple[int, Any]]:
    """A key for ``list.sort`` ordering records by ``field`` (stable: ties keep their order)."""

    def key(record: Record) -> tuple[int, Any]:
        return _rank(field_value(record, field))

    return key

"""A bad action message is answered in our words: the field at fault, what it must be, and for
an unknown field, the fields the action has (never pydantic's wording)."""

from __future__ import annotations

from typing import Any

import pytest

from autocoder.components.store import Store
from autocoder.store.messages import ACTION_NAMES, FIELD_RULES, fields_of

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            {"action": "list", "filters": {"done": True}},
            "invalid list message: unknown field 'filters'; a list message has the fields "
            "action, collection, tenant, where, order_by, limit, offset",
        ),
        (
            {"action": "list", "limit": 5000},
            "invalid list message: 'limit' must be a whole number from 0 to 1000 "
            "(records in one page), not 5000",
        ),
        (
            {"action": "create"},
            "invalid create message: 'data' is missing: it must be an object (the record's fields)",
        ),
        (
            {"action": "get", "id": ""},
            "invalid get message: 'id' must be a non-empty string of at most 255 characters "
            "(an integer is taken as its text), not ''",
        ),
        (
            {"action": "update", "id": "1", "data": {}, "expected_version": "3"},
            "invalid update message: 'expected_version' must be a whole number, 0 or more "
            "(the record's current version), not '3'",
        ),
        (
            {"action": "list", "order_by": "title desc"},
            "invalid list message: 'order_by' must be a field name, or -name for descending, "
            "not 'title desc'",
        ),
        (
            {"action": "list", "where": {"a b": 1}},
            "invalid list message: 'where' names the field 'a b', which is not a field name "
            "(a letter or _, then letters, digits or _)",
        ),
        (
            {"action": "batch", "operations": []},
            "invalid batch message: 'operations' must be a list of 1 to 10000 action "
            "messages, not []",
        ),
        (
            {"action": "describe", "verbose": True},
            "invalid describe message: unknown field 'verbose'; a describe message has the "
            "fields action, collection, tenant",
        ),
    ],
)
async def test_bad_messages_name_the_field_and_what_it_must_be(
    message: dict[str, Any], expected: str
) -> None:
    store = Store("store")
    await store.setup()
    try:
        reply = await store.process_item(message)
    finally:
        await store.cleanup()
    assert reply == {"status": "error", "message": expected, "error_type": "validation_error"}


def test_every_field_of_every_action_has_a_rule() -> None:
    for action in ACTION_NAMES:
        assert set(fields_of(action)) <= set(FIELD_RULES), action

"""Action messages as pydantic models: one per action, discriminated on ``action``.

``parse_message`` turns an incoming dict into one of these, or raises ``ValidationFailed`` /
``UnknownAction`` with a message a user can act on.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    TypeAdapter,
    ValidationError,
)

from autocoder.errors import UnknownAction, ValidationFailed

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
MAX_LIST_LIMIT = 1000
MAX_BATCH_OPERATIONS = 10_000


def _id_as_text(value: Any) -> Any:
    """Ids are strings; an integer id (not a bool) is accepted and turned into one."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


#: The length check comes before the conversion in the annotation so that pydantic-core makes
#: it (after the conversion, as it reads), not a Python validator of pydantic's per message.
RecordId = Annotated[
    str, Field(min_length=1, max_length=255, strict=True), BeforeValidator(_id_as_text)
]
Version = Annotated[StrictInt, Field(ge=0)]
FieldName = Annotated[str, Field(pattern=IDENTIFIER)]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    collection: Annotated[str, Field(pattern=IDENTIFIER)] | None = None
    tenant: Annotated[str, Field(max_length=255, strict=True)] = ""


class Create(_Message):
    action: Literal["create"]
    data: dict[str, Any]
    id: RecordId | None = None


class Get(_Message):
    action: Literal["get"]
    id: RecordId


class Update(_Message):
    action: Literal["update"]
    id: RecordId
    data: dict[str, Any]
    expected_version: Version | None = None


class Replace(_Message):
    action: Literal["replace"]
    id: RecordId
    data: dict[str, Any]
    expected_version: Version | None = None


class Delete(_Message):
    action: Literal["delete"]
    id: RecordId
    expected_version: Version | None = None


class List(_Message):
    action: Literal["list"]
    where: dict[FieldName, Any] = Field(default_factory=dict)
    order_by: Annotated[str, Field(pattern=r"^-?[A-Za-z_][A-Za-z0-9_]{0,62}$")] | None = None
    limit: Annotated[StrictInt, Field(ge=0, le=MAX_LIST_LIMIT)] = 100
    offset: Annotated[StrictInt, Field(ge=0)] = 0


class Describe(_Message):
    action: Literal["describe"]


class Batch(_Message):
    action: Literal["batch"]
    operations: Annotated[
        list[dict[str, Any]], Field(min_length=1, max_length=MAX_BATCH_OPERATIONS)
    ]


SingleAction = Create | Get | Update | Replace | Delete | List
Action = SingleAction | Describe | Batch

_ACTIONS: dict[str, type[BaseModel]] = {
    "create": Create,
    "get": Get,
    "update": Update,
    "replace": Replace,
    "delete": Delete,
    "list": List,
    "describe": Describe,
    "batch": Batch,
}
_ADAPTERS: dict[str, TypeAdapter[Any]] = {name: TypeAdapter(m) for name, m in _ACTIONS.items()}
ACTION_NAMES: tuple[str, ...] = tuple(_ACTIONS)


#: What each field of an action message must be, in the words error replies use.
FIELD_RULES: dict[str, str] = {
    "action": "the action's name",
    "collection": "a collection name (a letter or _, then letters, digits or _; at most 63)",
    "tenant": "a string of at most 255 characters",
    "id": "a non-empty string of at most 255 characters (an integer is taken as its text)",
    "data": "an object (the record's fields)",
    "expected_version": "a whole number, 0 or more (the record's current version)",
    "where": "an object mapping field names (a letter or _, then letters, digits or _) to values",
    "order_by": "a field name, or -name for descending",
    "limit": f"a whole number from 0 to {MAX_LIST_LIMIT} (records in one page)",
    "offset": "a whole number, 0 or more (records to skip)",
    "operations": f"a list of 1 to {MAX_BATCH_OPERATIONS} action messages",
}


def fields_of(action: str) -> list[str]:
    """The fields a message of ``action`` may have, in the reference's order."""
    model = _ACTIONS[action]
    names = list(model.model_fields)
    names.remove("action")
    return ["action", *names]


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _problem(action: str, item: Any) -> str:
    location = item["loc"]
    name = str(location[0]) if location else "message"
    kind = item["type"]
    if kind == "extra_forbidden":
        return (
            f"unknown field {name!r}; a {action} message has the fields "
            f"{', '.join(fields_of(action))}"
        )
    if kind == "missing":
        return f"{name!r} is missing: it must be {FIELD_RULES.get(name, 'given')}"
    if name == "where" and len(location) == 3 and location[2] == "[key]":
        return (
            f"'where' names the field {_shown(location[1])}, which is not a field name "
            "(a letter or _, then letters, digits or _)"
        )
    rule = FIELD_RULES.get(name)
    if rule is None:  # pragma: no cover - every field of every model has a rule
        return f"{name!r}: {item['msg']}"
    return f"{name!r} must be {rule}, not {_shown(item['input'])}"


def _describe_errors(action: str, error: ValidationError) -> str:
    return "; ".join(_problem(action, item) for item in error.errors(include_url=False))


def parse_message(message: Any, *, allowed: tuple[str, ...] = ACTION_NAMES) -> Action:
    """Validate an action message; raise ``ValidationFailed`` or ``UnknownAction``."""
    if not isinstance(message, dict):
        raise ValidationFailed(f"an action message must be an object, not {type(message).__name__}")
    action = message.get("action")
    if action is None:
        if "event" in message and "create" in allowed:
            return event_as_create(message)
        raise ValidationFailed("the message has no 'action'")
    if not isinstance(action, str) or action not in _ADAPTERS:
        raise UnknownAction(
            f"unknown action {action!r}; known actions: {', '.join(ACTION_NAMES)}",
            action=action if isinstance(action, str) else repr(action),
        )
    if action not in allowed:
        raise ValidationFailed(f"action {action!r} is not allowed here")
    try:
        parsed: Action = _ADAPTERS[action].validate_python(message)
    except ValidationError as exc:
        problems = _describe_errors(action, exc)
        raise ValidationFailed(f"invalid {action} message: {problems}") from None
    return parsed


def action_label(message: Any) -> str:
    """The action a store's metrics and performance monitor file a message under: its
    ``action`` when that is one of the store's actions, else ``"invalid"`` (so a bad message
    never makes a new metric series)."""
    action = message.get("action") if isinstance(message, dict) else None
    return action if isinstance(action, str) and action in _ADAPTERS else "invalid"


def event_as_create(event: dict[str, Any]) -> Create:
    """An event (a change event, a dead letter: ``event`` and no ``action``) as the create
    that keeps it: the whole message is the record, with an id of its own.

    The event's ``id`` (the record it is about) is kept as ``record_id``; its ``tenant``, when
    it has one, is the tenant it is kept under, so events stay with their tenant's records.
    """
    data = dict(event)
    if "id" in data:
        data.setdefault("record_id", data["id"])
        del data["id"]
    tenant = event.get("tenant")
    message = {
        "action": "create",
        "data": data,
        "tenant": tenant if isinstance(tenant, str) else "",
    }
    try:
        parsed: Create = _ADAPTERS["create"].validate_python(message)
    except ValidationError as exc:
        raise ValidationFailed(f"invalid event: {_describe_errors('create', exc)}") from None
    return parsed


SINGLE_ACTION_NAMES: tuple[str, ...] = ("create", "get", "update", "replace", "delete", "list")
_RECORD_ID: TypeAdapter[str] = TypeAdapter(RecordId)


def record_id(value: Any, what: str = "id") -> str:
    """Check an id found outside the message's own ``id`` field (e.g. ``data.id``)."""
    try:
        return _RECORD_ID.validate_python(value)
    except ValidationError:
        raise ValidationFailed(f"{what} must be {FIELD_RULES['id']}, not {_shown(value)}") from None

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


RecordId = Annotated[
    str, BeforeValidator(_id_as_text), Field(min_length=1, max_length=255, strict=True)
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


def _describe_errors(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False):
        where = ".".join(str(p) for p in item["loc"]) or "message"
        if item["type"] == "extra_forbidden":
            parts.append(f"{where}: unknown field")
        else:
            parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def parse_message(message: Any, *, allowed: tuple[str, ...] = ACTION_NAMES) -> Action:
    """Validate an action message; raise ``ValidationFailed`` or ``UnknownAction``."""
    if not isinstance(message, dict):
        raise ValidationFailed(f"an action message must be an object, not {type(message).__name__}")
    action = message.get("action")
    if action is None:
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
        raise ValidationFailed(f"invalid {action} message: {_describe_errors(exc)}") from None
    return parsed


SINGLE_ACTION_NAMES: tuple[str, ...] = ("create", "get", "update", "replace", "delete", "list")
_RECORD_ID: TypeAdapter[str] = TypeAdapter(RecordId)


def record_id(value: Any, what: str = "id") -> str:
    """Check an id found outside the message's own ``id`` field (e.g. ``data.id``)."""
    try:
        return _RECORD_ID.validate_python(value)
    except ValidationError as exc:
        raise ValidationFailed(f"{what}: {_describe_errors(exc)}") from None

"""Environment interpolation in blueprint strings: ``${VAR}``, ``${VAR:-default}`` and ``$${``.

- ``${VAR}`` is the value of ``VAR``; an unset variable is an error naming it.
- ``${VAR:-default}`` is the value of ``VAR`` when it is set and not empty, else ``default``
  (the default is taken literally, up to the first ``}``).
- ``$${`` is a literal ``${``; a ``$`` anywhere else is just a ``$``.

Variable names are letters, digits and ``_``, not starting with a digit. Anything else after
``${`` (a space, a missing ``}``) is an error, so a typo never passes through as text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_TOKEN = re.compile(r"(?P<escaped>\$\$\{)|\$\{(?P<body>[^}]*)\}|(?P<unclosed>\$\{)")
_BODY = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?", re.DOTALL)
_WHOLE = re.compile(r"\$\{[^}]*\}")


@dataclass
class Interpolated:
    """The result of interpolating one string.

    ``errors`` lists what went wrong (an unset variable, a malformed reference), one message
    each; ``value`` is then best effort and must not be used.
    """

    value: str
    substituted: bool = False
    errors: list[str] = field(default_factory=list)


def has_references(text: str) -> bool:
    """Whether ``text`` holds anything interpolation would change (a ``${`` or ``$${``)."""
    return "${" in text


def is_single_reference(text: str) -> bool:
    """Whether ``text`` is exactly one ``${...}`` reference and nothing else."""
    return _WHOLE.fullmatch(text) is not None


def interpolate(text: str, environ: Mapping[str, str]) -> Interpolated:
    """Replace every reference in ``text`` with its value from ``environ``."""
    if not has_references(text):
        return Interpolated(text)
    result = Interpolated("", substituted=True)
    pieces: list[str] = []
    position = 0
    for match in _TOKEN.finditer(text):
        pieces.append(text[position : match.start()])
        position = match.end()
        if match.group("escaped"):
            pieces.append("${")
        elif match.group("unclosed"):
            result.errors.append("'${' without a closing '}' (write '$${' for a literal '${')")
            pieces.append(match.group(0))
        else:
            pieces.append(_reference(match.group("body"), environ, result.errors))
    pieces.append(text[position:])
    result.value = "".join(pieces)
    return result


def _reference(body: str, environ: Mapping[str, str], errors: list[str]) -> str:
    parsed = _BODY.fullmatch(body)
    if parsed is None:
        errors.append(
            f"malformed environment reference '${{{body}}}': expected ${{NAME}} or "
            "${NAME:-default} (write '$${' for a literal '${')"
        )
        return ""
    name = parsed.group("name")
    default = parsed.group("default")
    value = environ.get(name)
    if default is not None:
        return value if value else default
    if value is None:
        errors.append(
            f"environment variable {name} is not set (set it, or give a default: "
            f"${{{name}:-default}})"
        )
        return ""
    return value

"""The exception tree: every class in ``autocoder.errors``, drawn in its docstring, exported.

And every ``{"status": "error", ...}`` reply is built by ``autocoder.errors.error_reply``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import autocoder
from autocoder import errors

ROOT = Path(autocoder.__file__).resolve().parent
# "    │   ├── ConfigurationError   a database URL ..." → depth from the indentation, the name.
TREE_LINE = re.compile(r"^    (?P<indent>[│ ]*)[├└]── (?P<name>\w+)(?P<internal> \*)?")


def _exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(autocoder.__path__, "autocoder."):
        if info.name == "autocoder.__main__":
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__.startswith("autocoder")
            ):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return found


def _drawn_tree() -> dict[str, tuple[str, bool]]:
    """Each class drawn in the docstring: its parent in the drawing and whether marked internal."""
    assert errors.__doc__ is not None
    parents: dict[str, tuple[str, bool]] = {}
    stack = ["AutocoderError"]
    for line in errors.__doc__.splitlines():
        match = TREE_LINE.match(line)
        if match is None:
            continue
        depth = len(match["indent"]) // 4 + 1
        del stack[depth:]
        parents[match["name"]] = (stack[-1], match["internal"] is not None)
        stack.append(match["name"])
    return parents


def test_every_exception_class_is_in_errors() -> None:
    elsewhere = sorted(
        name for name in _exception_classes() if not name.startswith("autocoder.errors.")
    )
    assert elsewhere == []


def test_the_docstring_draws_every_class_under_its_parent() -> None:
    drawn = _drawn_tree()
    defined = {
        name: cls
        for name, cls in vars(errors).items()
        if inspect.isclass(cls)
        and issubclass(cls, BaseException)
        and cls.__module__ == errors.__name__
    }
    assert set(drawn) == set(defined) - {"AutocoderError"}
    for name, (parent, _) in drawn.items():
        assert defined[name].__bases__[0] is defined[parent], name


def test_the_public_exceptions_are_exported() -> None:
    public = {name for name, (_, internal) in _drawn_tree().items() if not internal}
    exported = {name for name in autocoder.__all__ if inspect.isclass(getattr(autocoder, name))}
    assert public | {"AutocoderError"} <= exported
    internal = {name for name, (_, internal) in _drawn_tree().items() if internal}
    assert internal & exported == set()


def test_error_replies_are_built_in_one_place() -> None:
    builders = []
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Dict) and any(
                isinstance(key, ast.Constant) and key.value == "error_type" for key in node.keys
            ):
                builders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert builders == ["errors.py:" + str(_error_reply_line())]


def _error_reply_line() -> int:
    source, start = inspect.getsourcelines(errors.error_reply)
    offset = next(i for i, line in enumerate(source) if '"error_type"' in line)
    return start + offset


def test_an_error_reply_has_the_shape_of_spec_section_3() -> None:
    reply = errors.Conflict("the id exists", id="7").to_reply()
    assert reply == {
        "status": "error",
        "message": "the id exists",
        "error_type": "conflict",
        "id": "7",
    }

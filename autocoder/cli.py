"""The ``autocoder`` command: run, validate, graph, schema, components, migrate.

Exit codes, for every command:

- 0: success;
- 2: an invalid blueprint (every problem printed as ``FILE:LINE:COL: error: MESSAGE``), a
  blueprint that cannot be read, or a usage error;
- 1: a failure at run time: one line ``error: MESSAGE`` (the traceback of an unexpected error
  only with ``--log-level debug``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from autocoder.errors import AutocoderError, BlueprintError, Problem, UsageError

if TYPE_CHECKING:
    from autocoder.blueprint.loader import LoadedBlueprint

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("console", "json")
STDIN = "-"

Command = Callable[[argparse.Namespace], int]


def package_version() -> str:
    """The installed version of autocoder."""
    try:
        return version("autocoder")
    except PackageNotFoundError:
        return "unknown"


def format_problem(problem: Problem) -> str:
    """``FILE:LINE:COL: error: MESSAGE``, or ``FILE: error: MESSAGE`` for the whole file."""
    if problem.line <= 0:
        return f"{problem.file}: error: {problem.message}"
    return str(problem)


def _print_problems(error: BlueprintError) -> None:
    for problem in error.problems:
        print(format_problem(problem), file=sys.stderr)


# -- commands --------------------------------------------------------------------------------


def _load(path: str) -> LoadedBlueprint:
    """Load the blueprint at ``path``; ``-`` reads it from stdin (named ``<stdin>``)."""
    from autocoder.blueprint.loader import load_blueprint, load_blueprint_text

    if path == STDIN:
        return load_blueprint_text(sys.stdin.read(), "<stdin>")
    return load_blueprint(path)


def cmd_validate(args: argparse.Namespace) -> int:
    """``FILE: ok`` per good file; every problem of the bad ones; 2 when any is bad."""
    status = 0
    for path in args.blueprints:
        try:
            loaded = _load(path)
        except BlueprintError as exc:
            _print_problems(exc)
            status = 2
        else:
            print(f"{loaded.path}: ok")
    return status


def cmd_graph(args: argparse.Namespace) -> int:
    """The blueprint as a Mermaid or DOT diagram on stdout."""
    from autocoder.blueprint.graph import render

    loaded = _load(args.blueprint)
    sys.stdout.write(render(loaded.blueprint, args.format))
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    """The JSON Schema of the blueprint format on stdout."""
    from autocoder.blueprint.schema import blueprint_schema

    sys.stdout.write(json.dumps(blueprint_schema(), indent=2) + "\n")
    return 0


def cmd_components(args: argparse.Namespace) -> int:
    """Every registered type, its description and config fields; 1 when one cannot load."""
    from autocoder.blueprint.catalog import catalog

    status = 0
    blocks: list[str] = []
    for entry in catalog():
        if entry.error is not None:
            print(f"error: cannot load component type {entry.name}: {entry.error}", file=sys.stderr)
            status = 1
        else:
            blocks.append("\n".join(entry.lines))
    if blocks:
        print("\n\n".join(blocks))
    return status


def cmd_run(args: argparse.Namespace) -> int:
    """Serve the blueprint until SIGINT/SIGTERM, reloading it on SIGHUP (and with ``--watch``
    when the file changes); the runtime is imported only here."""
    from autocoder.system import backend_options

    backend_options()  # an unknown event loop is a usage error before anything starts
    if args.workers > 1:
        from autocoder.workers import run_workers

        return run_workers(
            args.blueprint,
            args.workers,
            log_format=args.log_format,
            log_level=args.log_level,
            components=args.components,
            watch=args.watch,
        )
    from autocoder.system import run_blueprint

    return run_blueprint(
        args.blueprint,
        log_format=args.log_format,
        log_level=args.log_level,
        components=args.components,
        watch=args.watch,
    )


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply (or with ``--status`` report) V5EnhancedStore migrations."""
    from autocoder.migrate import migrate

    return migrate(args.blueprint, component=args.component, status=args.status)


# -- the parser ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(
        prog="autocoder",
        description="Run systems described in YAML blueprints.",
        epilog="Exit codes: 0 success, 1 failure at run time, 2 invalid blueprint or usage.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"autocoder {package_version()}",
        help="print the version and exit",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="validate, start and serve a blueprint until stopped")
    run.add_argument("blueprint", metavar="BLUEPRINT", help="the blueprint file to serve")
    run.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=None,
        help="console or json (default: console on a terminal, json otherwise)",
    )
    run.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        metavar="N",
        help="serve with N processes sharing each endpoint's port (default 1)",
    )
    run.add_argument(
        "--components",
        metavar="NAME[,NAME...]",
        type=_names,
        default=None,
        help="run only these components (default: all); the others run elsewhere, "
        "reached over their nats bindings",
    )
    run.add_argument(
        "--watch",
        action="store_true",
        help="reload the blueprint when the file changes, as SIGHUP does",
    )
    _add_log_level(run)
    run.set_defaults(handler=cmd_run)

    validate = commands.add_parser("validate", help="check blueprints; print every problem")
    validate.add_argument(
        "blueprints", metavar="BLUEPRINT", nargs="+", help="a file, or - for stdin"
    )
    validate.set_defaults(handler=cmd_validate)

    graph = commands.add_parser("graph", help="draw components and bindings")
    graph.add_argument("blueprint", metavar="BLUEPRINT", help="a file, or - for stdin")
    graph.add_argument(
        "--format",
        choices=("mermaid", "dot"),
        default="mermaid",
        help="mermaid (a flowchart, the default) or dot (Graphviz)",
    )
    graph.set_defaults(handler=cmd_graph)

    schema = commands.add_parser("schema", help="print the JSON Schema of the blueprint format")
    schema.set_defaults(handler=cmd_schema)

    components = commands.add_parser(
        "components", help="list component types and their config fields"
    )
    components.set_defaults(handler=cmd_components)

    migrate = commands.add_parser(
        "migrate", help="apply V5EnhancedStore migrations without serving"
    )
    migrate.add_argument(
        "blueprint", metavar="BLUEPRINT", help="the blueprint whose V5EnhancedStores to migrate"
    )
    migrate.add_argument(
        "--component", metavar="NAME", help="only this V5EnhancedStore (default: every one)"
    )
    migrate.add_argument(
        "--status",
        action="store_true",
        help="print each migration as applied, pending or changed; exit 1 unless all applied",
    )
    _add_log_level(migrate)
    migrate.set_defaults(handler=cmd_migrate)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return value


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("name at least one component")
    return names


def _add_log_level(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-level",
        type=str.lower,
        choices=LOG_LEVELS,
        default="info",
        help="debug, info (default), warning, error or critical; debug also prints the "
        "traceback of a failure",
    )


def _import_from_working_directory() -> None:
    """Let ``type: "module:Class"`` name a module in the current directory, as ``python -m``
    does (the ``autocoder`` script alone would not find it)."""
    cwd = os.getcwd()
    if "" not in sys.path and cwd not in sys.path:
        sys.path.insert(0, cwd)


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.splitlines() if line.strip()) or "(no message)"


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: the process arguments), run the command, return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Command | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_usage(sys.stderr)
        print("autocoder: error: a command is required", file=sys.stderr)
        return 2
    debug = getattr(args, "log_level", "info") == "debug"
    _import_from_working_directory()
    try:
        return handler(args)
    except BlueprintError as exc:
        _print_problems(exc)
        return 2
    except UsageError as exc:
        print(f"autocoder: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except AutocoderError as exc:
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        if debug:
            traceback.print_exc()
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``autocoder schema | head``): nothing left to say to it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        print(
            f"error: internal error: {_one_line(f'{type(exc).__name__}: {exc}')}", file=sys.stderr
        )
        if debug:
            traceback.print_exc()
        return 1

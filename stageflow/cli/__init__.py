"""The ``stageflow`` command: a thin shell over the public API.

It parses arguments, calls the library, prints text or exactly one JSON document
(``--json``), and maps errors to exit codes: 0 done; 1 refused by a rule or a gate (every
finding printed); 2 could not run (usage error, unknown feature or stage, malformed state
file). No user error ends in a traceback.

Commands that read or write runs or task files take ``--store URL`` (else
``$STAGEFLOW_STORE``, else the files store under ``--root``; :mod:`._stores`), and the
stores a command opened are closed when it ends. Read-only commands (``stage status``,
``stage history``, ``stage list``, ``task status``) import neither attrs, cattrs,
jsonschema nor transitions, so they start fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..errors import StageflowError, UsageError

# typing is imported only by type checkers: this module is on the CLI's fast path.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, NoReturn, Optional, Sequence, TextIO

__all__ = ["main"]

ROOT_MARKERS = (".git", "pyproject.toml", "package.json")


def find_root(start: Optional[str] = None) -> str:
    """``STAGEFLOW_ROOT``, else the nearest ancestor of ``start`` (default: the current
    folder) holding ``.git`` (folder or file), ``pyproject.toml`` or ``package.json``, else
    ``start`` itself."""
    env = os.environ.get("STAGEFLOW_ROOT")
    if env:
        if not os.path.isdir(env):
            raise UsageError(f"STAGEFLOW_ROOT {env!r} is not an existing folder")
        return os.path.abspath(env)
    here = os.path.abspath(start or os.getcwd())
    probe = here
    while True:
        if any(os.path.exists(os.path.join(probe, marker)) for marker in ROOT_MARKERS):
            return probe
        parent = os.path.dirname(probe)
        if parent == probe:
            return here
        probe = parent


def _terminal_width() -> int:
    """What ``shutil.get_terminal_size`` would say, without importing shutil (start-up time)."""
    try:
        return max(int(os.environ["COLUMNS"]), 20)
    except (KeyError, ValueError):
        pass
    stream = sys.__stdout__
    try:
        return os.get_terminal_size(stream.fileno()).columns - 2 if stream else 78
    except (AttributeError, ValueError, OSError):
        return 78


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises :class:`UsageError` instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse builds a formatter for every add_argument(); with an explicit width it
        # does not import shutil to measure the terminal.
        return self.formatter_class(prog=self.prog, width=_terminal_width())  # type: ignore[call-arg]


def dumps(document: Dict[str, Any]) -> str:
    """One JSON document as the CLI prints it: indented, non-ASCII text as is, unless it
    holds text UTF-8 cannot carry (such as a file name that is not UTF-8): then escaped, so
    the output is always valid UTF-8 JSON."""
    text = json.dumps(document, indent=2, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(document, indent=2)
    return text


class Console:
    """Where a command writes: text for people, or one JSON document for programs."""

    def __init__(self, as_json: bool, out: TextIO, err: TextIO) -> None:
        self.as_json = as_json
        self.out = out
        self.err = err

    def emit(self, document: Dict[str, Any], text: Callable[[], str]) -> None:
        if self.as_json:
            self.out.write(dumps(document) + "\n")
        else:
            self.out.write(text() + "\n")

    def line(self, text: str) -> None:
        """Progress text: on stdout in text mode, on stderr (or nowhere) in JSON mode."""
        if not self.as_json:
            self.out.write(text + "\n")
            self.out.flush()


def _common(parser: argparse.ArgumentParser, suppress: bool, with_root: bool = True) -> None:
    default: Any = argparse.SUPPRESS if suppress else None
    if with_root:
        parser.add_argument(
            "--root",
            default=default,
            help="project root (default: $STAGEFLOW_ROOT, else the nearest folder holding "
            ".git, pyproject.toml or package.json)",
        )
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="print exactly one JSON document on stdout",
    )
    parser.add_argument(
        "--actor", default=default, help="who is acting (default: $STAGEFLOW_ACTOR or login)"
    )


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The argument parser of the ``stageflow`` command.

    Given the command line, it builds only the parsers that line can reach (every parser
    for ``--help``): building all of them costs several milliseconds of start-up.
    """
    # The fast form agents use: `stageflow GROUP [COMMAND] ...`; anything else builds it all.
    wants_help = any(a in ("-h", "--help") for a in argv)
    groups_known = ("stage", "task", "workflow", "config", "phase", "store", "demo")
    group = argv[0] if argv and argv[0] in groups_known and not wants_help else None
    command = argv[1] if group in ("stage", "task") and len(argv) > 1 else None
    from . import _stores

    def with_store(p: argparse.ArgumentParser) -> None:  # the commands that use a store
        _common(p, suppress=True)
        _stores.add_option(p)

    parser = _Parser(
        prog="stageflow",
        description="Multi-stage delivery workflows as an explicit state machine.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    _common(parser, suppress=False)
    # An explicit prog keeps argparse from building a help formatter (which imports shutil).
    groups = parser.add_subparsers(
        dest="group", metavar="COMMAND", parser_class=_Parser, prog="stageflow"
    )
    if group in (None, "stage"):
        from . import _stage

        _stage.register(groups, with_store, only=command)
    if group in (None, "task"):
        from . import _task

        _task.register(groups, with_store, only=command)
    if group in (None, "workflow"):
        from . import _workflow

        _workflow.register(groups, lambda p: _common(p, suppress=True))
    if group in (None, "config"):
        from . import _config

        _config.register(groups, lambda p: _common(p, suppress=True))
    if group in (None, "phase"):
        from . import _phase

        _phase.register(groups, with_store)
    if group in (None, "store"):
        from . import _store_cmd

        _store_cmd.register(groups, lambda p: _common(p, suppress=True), with_store)
    if group in (None, "demo"):
        from . import _demo_cmd

        _demo_cmd.register(groups)
    return parser


def main(
    argv: Optional[Sequence[str]] = None,
    out: Optional[TextIO] = None,
    err: Optional[TextIO] = None,
) -> int:
    """Run the command line ``argv``; return the exit code."""
    args: List[str] = list(sys.argv[1:] if argv is None else argv)
    console = Console("--json" in args, out or sys.stdout, err or sys.stderr)
    try:
        for arg in args:
            try:
                arg.encode("utf-8")
            except UnicodeEncodeError:
                raise UsageError(f"argument {arg!r} is not valid UTF-8 text") from None
        namespace = build_parser(args).parse_args(args)
        console.as_json = bool(namespace.json)
        if namespace.version:
            from .. import __version__

            console.emit({"version": __version__}, lambda: f"stageflow {__version__}")
            return 0
        handler = getattr(namespace, "handler", None)
        if handler is None:
            raise UsageError("stageflow: a command is required (try 'stageflow --help')")
        if namespace.root is None:
            namespace.root = find_root()
        elif not os.path.isdir(namespace.root):  # a typo must not create a new project
            raise UsageError(f"project root {namespace.root!r} is not an existing folder")
        try:
            code: int = handler(namespace, console)
        finally:
            from ._stores import close

            close(namespace)
        return code
    except StageflowError as exc:
        return _report(
            console, exc.to_dict(), exc.message, exc.exit_code, getattr(exc, "findings", ())
        )
    except UnicodeError as exc:  # e.g. a file name that is not valid UTF-8
        return _report(console, {"error": "UnicodeError", "message": str(exc)}, str(exc), 2, ())
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return _report(
            console,
            {"error": "OSError", "message": f"{where}{exc.strerror or exc}"},
            f"{where}{exc.strerror or exc}",
            2,
            (),
        )
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: still one JSON document, never a traceback
        if os.environ.get("STAGEFLOW_DEBUG"):
            raise
        message = (
            f"internal error ({type(exc).__name__}: {exc}); set STAGEFLOW_DEBUG=1 to see where"
        )
        return _report(console, {"error": "InternalError", "message": message}, message, 2, ())


def _report(
    console: Console, document: Dict[str, Any], message: str, code: int, findings: Sequence[Any]
) -> int:
    if console.as_json:
        console.out.write(dumps({"ok": False, **document}) + "\n")
    else:
        from .._render import findings_text

        console.err.write(f"error: {message}\n" if code != 1 else f"refused: {message}\n")
        for line in findings_text(findings):
            console.err.write(line + "\n")
    return code

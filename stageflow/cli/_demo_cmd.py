"""``stageflow demo``: walk a sample feature through every stage."""

from __future__ import annotations

import argparse

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is imported only by type checkers (CLI fast path)
    from typing import Any, Callable

    from . import Console


def register(groups: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    parser = groups.add_parser(
        "demo",
        help="walk a sample feature through all stages in a new folder",
        prog="stageflow demo",
        description="Walk a sample feature through all stages: a refused completion, an "
        "override, a rollback, and the final status. Files stay in the folder it names.",
    )
    parser.add_argument("--dir", help="folder to run in (default: a new temporary folder)")
    common(parser)
    parser.set_defaults(handler=_demo)


def _demo(ns: argparse.Namespace, console: Console) -> int:
    from ..demo import default_folder, run_demo

    summary = run_demo(ns.dir or default_folder(), say=console.line, actor=ns.actor or "demo")
    console.emit(summary, lambda: f"\nDemo files are in {summary['root']}")
    return 0

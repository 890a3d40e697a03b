"""``stageflow demo``: walk a sample feature through every stage."""

from __future__ import annotations

import argparse

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is imported only by type checkers (CLI fast path)
    from typing import Any

    from . import Console


def register(groups: Any) -> None:
    parser = groups.add_parser(
        "demo",
        help="walk a sample feature through all stages in a new folder",
        prog="stageflow demo",
        description="Walk a sample feature through all stages: a refused completion, an "
        "override, a rollback, and the final status. Files stay in the folder it names.",
    )
    parser.add_argument(
        "--dir", help="new or empty folder to run in (default: a new temporary one)"
    )
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON summary"
    )
    parser.add_argument("--actor", default="demo", help="who acts in the demo (default: demo)")
    parser.set_defaults(handler=_demo)


def _demo(ns: argparse.Namespace, console: Console) -> int:
    from ..demo import default_folder, run_demo

    summary = run_demo(ns.dir or default_folder(), say=console.line, actor=ns.actor)
    console.emit(summary, lambda: f"\nDemo files are in {summary['root']}")
    return 0

"""``stageflow store ...``: copy a backend's data into another, migrate one, describe one.

``store copy`` is :func:`stageflow.storage.copy.copy_stores` (exit 0 when every feature was
copied, 2 otherwise); ``store migrate`` is :meth:`stageflow.storage.Stores.migrate`.
"""

from __future__ import annotations

import argparse

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is imported only by type checkers (CLI fast path)
    from typing import Any, Callable, Dict, List, Tuple

    from ..storage import Stores
    from ..storage.copy import CopyReport, FeatureCopy
    from . import Console


def _add_copy(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SRC", help="the store URL to copy from (only read)")
    p.add_argument("destination", metavar="DST", help="the store URL to copy into (empty)")


def _add_nothing(p: argparse.ArgumentParser) -> None:
    pass


def register(
    groups: Any,
    common: Callable[[argparse.ArgumentParser], None],
    with_store: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Add ``stageflow store ...``."""
    parser = groups.add_parser("store", help="copy, migrate and describe stores")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", prog="stageflow store")
    for name, (handler, help_text, arguments, takes_store) in COMMANDS.items():
        command = commands.add_parser(
            name, help=help_text, description=help_text, prog=f"stageflow store {name}"
        )
        arguments(command)
        (with_store if takes_store else common)(command)
        command.set_defaults(handler=handler)


def _shown(opened: Stores) -> str:
    from ..storage._url import shown

    return shown(opened)


def _copy(ns: argparse.Namespace, console: Console) -> int:
    from ..storage.copy import copy_stores
    from ._stores import open_url

    source = open_url(ns.source, str(ns.root), "SRC")
    with source, open_url(ns.destination, str(ns.root), "DST") as destination:
        report = copy_stores(source, destination)
    console.emit(report.to_dict(), lambda: copy_text(report))
    return 0 if report.ok else 2


def _feature_line(item: FeatureCopy) -> List[str]:
    runs = ", ".join(str(n) for n in item.runs)
    parts = [f"run{'' if len(item.runs) == 1 else 's'} {runs}" if item.runs else "no runs"]
    count = len(item.task_files)
    parts.append(f"{count} task file{'' if count == 1 else 's'}" if count else "no task files")
    if item.status == "copied":
        lines = [f"  {item.feature}: copied {' and '.join(parts)}"]
    elif item.status == "failed":
        lines = [f"  {item.feature}: FAILED after writing {' and '.join(parts)}"]
    elif item.status == "skipped":
        lines = [f"  {item.feature}: SKIPPED, nothing written: a document cannot be read"]
    else:
        lines = [f"  {item.feature}: not copied"]
    lines += [f"    ! {problem}" for problem in item.problems]
    lines += [f"    note: {note}" for note in item.notes]
    return lines


def copy_text(report: CopyReport) -> str:
    """What ``store copy`` prints for people."""
    copied = sum(1 for f in report.features if f.status == "copied")
    total = len(report.features)
    if not total:
        return f"Nothing to copy: {report.source} holds no feature."
    head = f"Copied {copied} of {total} feature{'' if total == 1 else 's'} "
    lines = [head + f"from {report.source} to {report.destination}:"]
    for item in report.features:
        lines += _feature_line(item)
    if not report.ok:
        lines.append("The copy is incomplete: see the features above.")
    return "\n".join(lines)


def _migrate(ns: argparse.Namespace, console: Console) -> int:
    from ._stores import stores

    opened = stores(ns)
    applied = opened.migrate()
    url = _shown(opened)
    has_schema = opened.has_schema

    def text() -> str:
        if applied:
            return f"{url}: applied {len(applied)} migration(s): {', '.join(applied)}"
        if not has_schema:
            return f"{url}: nothing to migrate (this backend has no schema)"
        return f"{url}: nothing to migrate (the schema is up to date)"

    console.emit({"ok": True, "store": url, "schema": has_schema, "applied": applied}, text)
    return 0


def _info(ns: argparse.Namespace, console: Console) -> int:
    from ..storage.files import FileStore
    from ._stores import stores

    opened = stores(ns)
    url = _shown(opened)
    runs = opened.runs.features()
    tasks = opened.tasks.features()
    document: Dict[str, Any] = {
        "store": url,
        "backend": opened.url.partition(":")[0],
        "root": opened.runs.root if isinstance(opened.runs, FileStore) else None,
        "features": len(set(runs) | set(tasks)),
        "run_features": len(runs),
        "task_features": len(tasks),
    }

    def text() -> str:
        lines = [f"Store: {url} ({document['backend']})"]
        if document["root"] is not None:
            lines.append(f"  Root: {document['root']}")
        lines.append(
            f"  Features: {document['features']} ({len(runs)} with runs, "
            f"{len(tasks)} with task files)"
        )
        return "\n".join(lines)

    console.emit(document, text)
    return 0


if TYPE_CHECKING:
    Command = Tuple[Callable[..., int], str, Callable[[argparse.ArgumentParser], None], bool]
COMMANDS: Dict[str, Command] = {
    "copy": (
        _copy,
        "copy every feature's runs and task files from one store into another, empty one",
        _add_copy,
        False,
    ),
    "migrate": (
        _migrate,
        "bring the store's schema up to date and say what was applied",
        _add_nothing,
        True,
    ),
    "info": (_info, "the store's backend, URL and number of features", _add_nothing, True),
}
"""Every ``stageflow store`` command: handler, help, arguments, takes ``--store``."""

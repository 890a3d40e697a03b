"""Where a feature's task files live, and reading them: every problem is a finding.

A feature lives at ``.tmp/tasks/{feature}/`` under the project root, or in the legacy
layouts ``.tmp/tasks/active/{feature}/`` and ``.tmp/tasks/completed/{feature}/``
(``active`` and ``completed`` are never features themselves). Subtask files are named
``subtask_{seq}.json`` with ``seq`` two or more ASCII digits. The public names are
re-exported by :mod:`stageflow.validation`, which documents the finding codes.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Dict, List, Optional, Tuple, Union

from ._minischema import json_type_phrase
from ._names import FEATURE_PATTERN, check_feature
from ._rundoc import parse_json_bytes
from .errors import NotFound, StateFileError
from .findings import Finding, Severity

__all__ = ["LEGACY_LAYOUTS", "SUBTASK_FILE", "TASKS_DIR", "feature_dir", "list_features"]

TASKS_DIR = ".tmp/tasks"
"""Where features live, relative to the project root."""

LEGACY_LAYOUTS: Tuple[str, ...] = ("active", "completed")
"""Folders under :data:`TASKS_DIR` that hold features (and are not features themselves)."""

SUBTASK_FILE = re.compile(r"subtask_([0-9]{2,})\.json\Z")
"""The name of a subtask file; group 1 is the seq."""

Root = Union[str, "os.PathLike[str]"]

_ERROR = Severity.ERROR


# -- discovery -------------------------------------------------------------------------------


def candidates(feature: str) -> Tuple[str, ...]:
    """The folders ``feature`` may live in, relative to the root, in layout order."""
    return (
        f"{TASKS_DIR}/{feature}",
        *(f"{TASKS_DIR}/{layout}/{feature}" for layout in LEGACY_LAYOUTS),
    )


def feature_dir(root: Root, feature: str) -> str:
    """The folder of ``feature`` relative to ``root`` (``/``-separated).

    The first existing of ``.tmp/tasks/{feature}``, ``.tmp/tasks/active/{feature}`` and
    ``.tmp/tasks/completed/{feature}``. Raises :class:`~stageflow.errors.InvalidName` for a
    bad feature name and :class:`~stageflow.errors.NotFound` when no folder exists.
    """
    check_feature(feature)
    if feature in LEGACY_LAYOUTS:
        from .errors import InvalidName

        raise InvalidName(f"{feature!r} is a layout folder, not a feature")
    base = os.fspath(root)
    for rel in candidates(feature):
        if os.path.isdir(os.path.join(base, rel)):
            return rel
    raise NotFound(f"feature {feature!r} not found under {os.path.join(base, TASKS_DIR)}", feature)


def list_features(root: Root) -> Dict[str, Tuple[str, ...]]:
    """Every feature folder under ``root``: feature name -> its folders, in layout order.

    Folder names that are not valid feature names are left out
    (:func:`stageflow.validation.validate_all` reports them). A missing ``.tmp/tasks``
    gives an empty dict.
    """
    return {
        name: rels
        for name, rels in discover(os.fspath(root)).items()
        if FEATURE_PATTERN.match(name) and name not in LEGACY_LAYOUTS
    }


def _subdirs(path: str) -> List[str]:
    try:
        with os.scandir(path) as entries:
            return sorted(e.name for e in entries if e.is_dir())
    except OSError:
        return []


def discover(root: str) -> Dict[str, Tuple[str, ...]]:
    """Every folder name under the layouts -> its folders, valid feature names or not."""
    found: Dict[str, List[str]] = {}
    base = os.path.join(root, TASKS_DIR)
    for name in _subdirs(base):
        if name not in LEGACY_LAYOUTS:
            found.setdefault(name, []).append(f"{TASKS_DIR}/{name}")
    for layout in LEGACY_LAYOUTS:
        for name in _subdirs(os.path.join(base, layout)):
            found.setdefault(name, []).append(f"{TASKS_DIR}/{layout}/{name}")
    return {name: tuple(rels) for name, rels in sorted(found.items())}


def looks_like_subtask(name: str) -> bool:
    lower = name.lower()
    return lower.startswith(("subtask_", "subtask-", "subtask.")) or (
        lower.startswith("subtask") and ".json" in lower
    )


# -- reading ---------------------------------------------------------------------------------

_PARSE_CODES = (
    ("the file is empty", "json-empty"),
    ("truncated", "json-truncated"),
    ("not UTF-8", "json-encoding"),
)


def _read_bytes(full: str) -> bytes:
    """The whole file, with plain system calls (cheaper than a buffered file object)."""
    fd = os.open(full, _READ_FLAGS)
    try:
        data = os.read(fd, _CHUNK)
        if data:
            chunks = [data]
            while True:
                more = os.read(fd, _CHUNK)
                if not more:
                    break
                chunks.append(more)
            if len(chunks) > 1:
                data = b"".join(chunks)
        return data
    finally:
        os.close(fd)


_READ_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)
_CHUNK = 1 << 16


def read_document(full: str, path: str, found: List[Finding]) -> Optional[Dict[str, Any]]:
    """The JSON object in file ``full``, or None after adding a finding about it."""
    try:
        data = _read_bytes(full)
    except OSError as exc:
        found.append(
            Finding(
                "file-unreadable",
                f"{path}: cannot be read ({exc.strerror or type(exc).__name__})",
                _ERROR,
                path,
                "",
                "Make it a readable file, or remove it",
            )
        )
        return None
    try:
        document = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        try:
            document = parse_json_bytes(data, path)
        except StateFileError as exc:
            code = next((c for start, c in _PARSE_CODES if exc.problem.startswith(start)), None)
            found.append(
                Finding(
                    code or "json-invalid",
                    f"{path}: {exc.problem}",
                    _ERROR,
                    path,
                    "",
                    "Restore the file from a copy, or rewrite it as one JSON object in UTF-8",
                )
            )
            return None
    if not isinstance(document, dict):
        found.append(
            Finding(
                "json-not-object",
                f"{path}: expected a JSON object, found {json_type_phrase(document)}",
                _ERROR,
                path,
                "",
                "Write the document as one JSON object",
            )
        )
        return None
    return document

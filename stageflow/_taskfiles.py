"""Where a feature's task files live, and reading them: every problem is a finding.

A feature lives at ``.tmp/tasks/{feature}/`` under the project root, or in the legacy
layouts ``.tmp/tasks/active/{feature}/`` and ``.tmp/tasks/completed/{feature}/``
(``active`` and ``completed`` are never features themselves). Subtask files are named
``subtask_{seq}.json`` with ``seq`` two or more ASCII digits. The public names are
re-exported by :mod:`stageflow.validation`, which documents the finding codes.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple, Union

from .findings import Finding, Severity
from .storage._taskdocs import MISSING
from .storage.taskfiles import (
    _PARSE_CODES,
    LEGACY_LAYOUTS,
    SUBTASK_FILE,
    TASKS_DIR,
    FileTaskStore,
    candidate_folders,
    read_json_object,
)

__all__ = ["LEGACY_LAYOUTS", "SUBTASK_FILE", "TASKS_DIR", "feature_dir", "list_features"]

Root = Union[str, "os.PathLike[str]"]

_ERROR = Severity.ERROR


# -- discovery (the files task store's rules) --------------------------------------------------


candidates = candidate_folders
"""The folders a feature may live in, relative to the root, in layout order."""


def feature_dir(root: Root, feature: str) -> str:
    """The folder of ``feature`` relative to ``root`` (``/``-separated).

    The first existing of ``.tmp/tasks/{feature}``, ``.tmp/tasks/active/{feature}`` and
    ``.tmp/tasks/completed/{feature}``. Raises :class:`~stageflow.errors.InvalidName` for a
    bad feature name and :class:`~stageflow.errors.NotFound` when no folder exists.
    """
    return FileTaskStore(root).folder(feature)


def list_features(root: Root) -> Dict[str, Tuple[str, ...]]:
    """Every feature folder under ``root``: feature name -> its folders, in layout order.

    Folder names that are not valid feature names are left out
    (:func:`stageflow.validation.validate_all` reports them). A missing ``.tmp/tasks``
    gives an empty dict.
    """
    return FileTaskStore(root).feature_folders()


def discover(root: str) -> Dict[str, Tuple[str, ...]]:
    """Every folder name under the layouts -> its folders, valid feature names or not."""
    return FileTaskStore(root).folders()


def looks_like_subtask(name: str) -> bool:
    lower = name.lower()
    return lower.startswith(("subtask_", "subtask-", "subtask.")) or (
        lower.startswith("subtask") and ".json" in lower
    )


# -- reading (the files task store's reader, its problems as findings) ------------------------

# Codes of storage.taskfiles.read_json_object that validation reports under another code.
_CODES = {
    "file-missing": "file-unreadable",
    "file-link": "file-unreadable",
    "json-not-portable": "json-invalid",
}
_ADVICE = {
    "file-unreadable": "Make it a readable file, or remove it",
    "json-not-object": "Write the document as one JSON object",
}


def read_document(full: str, path: str, found: List[Finding]) -> Optional[Dict[str, Any]]:
    """The JSON object in file ``full``, or None after adding a finding about it.

    The file is read exactly as the task store reads it (no symbolic link followed, no
    ``NaN`` or ``Infinity``), so what validates is what the tracker can move.
    """
    document, _, code, problem = read_json_object(full, path)
    if document is not None:
        return document  # type: ignore[no-any-return]
    code = _CODES.get(code, code)
    advice = _ADVICE.get(
        code, "Restore the file from a copy, or rewrite it as one JSON object in UTF-8"
    )
    found.append(Finding(code, f"{path}: {problem}", _ERROR, path, "", advice))
    return None


def stored_document(file: Any, path: str, found: List[Finding]) -> Optional[Dict[str, Any]]:
    """The JSON object of a :class:`~stageflow.storage.StoredFile`, or None after adding
    the finding :func:`read_document` would add for the problem it carries."""
    if file.document is not None:
        return file.document  # type: ignore[no-any-return]
    problem = str(file.problem)
    if problem == MISSING or problem.startswith(("cannot be read", "is a symbolic link")):
        code = "file-unreadable"
    elif problem.startswith("expected a JSON object"):
        code = "json-not-object"
    else:
        code = next((c for start, c in _PARSE_CODES if problem.startswith(start)), "json-invalid")
    code = _CODES.get(code, code)
    advice = _ADVICE.get(
        code, "Restore the file from a copy, or rewrite it as one JSON object in UTF-8"
    )
    found.append(Finding(code, f"{path}: {problem}", _ERROR, path, "", advice))
    return None

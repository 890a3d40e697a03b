"""Reading the artifacts of a stage for the content gates: every problem is a finding.

A file that is missing, unreadable, empty, not JSON, not a JSON object or against its
schema is reported with its path (relative to the project root) and, for schema
violations, a JSON pointer. The task files are read by the files task store
(:mod:`stageflow.storage.taskfiles`, every layout), and subtask deliverables are checked
against the project root. Nothing here raises for a bad file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Dict, List, Optional

from ._deliverables import looks_like_path
from ._fileio import read_bytes
from ._rundoc import parse_json_bytes
from .errors import StageflowError, StateFileError
from .findings import Finding, Severity
from .gates import StageContext, match_output
from .storage._taskdocs import StoredFeature, StoredFile

__all__ = [
    "ARTIFACT_CODES",
    "deliverable",
    "finding",
    "load_feature",
    "looks_like_path",
    "no_subtasks",
    "read_json",
    "read_text",
    "relative",
    "resolved",
    "unusable_subtask",
]

ARTIFACT_CODES = (
    "artifact-missing",
    "artifact-unreadable",
    "artifact-empty",
    "artifact-json",
    "artifact-schema",
)
"""The codes of a file that cannot be used at all."""

_MESSAGE_LIMIT = 200


def finding(
    code: str,
    message: str,
    path: Optional[str],
    pointer: Optional[str] = None,
    recommendation: Optional[str] = None,
    severity: Severity = Severity.ERROR,
) -> Finding:
    """A finding, with the message shortened to a readable length."""
    if len(message) > _MESSAGE_LIMIT:
        message = message[: _MESSAGE_LIMIT - 3] + "..."
    return Finding(code, message, severity, path, pointer, recommendation)


def resolved(context: StageContext, name: str) -> str:
    """The path of artifact ``name`` for the context's feature.

    Gates check first that their workflow declares it (``artifact-undeclared``).
    """
    output = context.workflow.artifact(name)
    path = output.resolve(context.feature) if output is not None else None
    if path is None:  # pragma: no cover - the gates check the declaration first
        raise LookupError(f"workflow {context.workflow.name!r} declares no artifact {name!r}")
    return path


def relative(context: StageContext, path: Path) -> str:
    """``path`` relative to the project root, with ``/`` separators."""
    return path.relative_to(context.root).as_posix()


def _read(context: StageContext, path: str, found: List[Finding]) -> Optional[bytes]:
    matches = match_output(context.root, path)
    if not matches:
        found.append(
            finding(
                "artifact-missing",
                f"{path} does not exist",
                path,
                None,
                f"write {path} (relative to the project root)",
            )
        )
        return None
    try:
        return read_bytes(str(matches[0]))
    except OSError as exc:
        found.append(
            finding(
                "artifact-unreadable",
                f"{path} cannot be read ({exc.strerror or type(exc).__name__})",
                path,
                None,
                f"make {path} a readable file",
            )
        )
        return None


def read_text(context: StageContext, path: str, found: List[Finding]) -> Optional[str]:
    """The text of ``path``, or ``None`` after a finding: missing, unreadable, not UTF-8,
    or blank."""
    data = _read(context, path, found)
    if data is None:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        found.append(
            finding(
                "artifact-unreadable",
                f"{path} is not UTF-8 text (byte {exc.start})",
                path,
                None,
                f"write {path} as UTF-8 text",
            )
        )
        return None
    if not text.strip():
        found.append(
            finding(
                "artifact-empty", f"{path} is empty", path, None, f"write the content of {path}"
            )
        )
        return None
    return text


def read_json(
    context: StageContext, path: str, schema_name: str, found: List[Finding]
) -> Optional[Dict[str, Any]]:
    """The JSON object in ``path`` if it is valid against schema ``schema_name``, else
    ``None`` after findings (``artifact-schema`` once per violation, with its pointer)."""
    data = _read(context, path, found)
    if data is None:
        return None
    if not data.strip():
        found.append(
            finding("artifact-empty", f"{path} is empty", path, "", f"write the content of {path}")
        )
        return None
    try:
        document = parse_json_bytes(data, path)
    except StateFileError as exc:
        code = "artifact-unreadable" if "UTF-8" in exc.problem else "artifact-json"
        found.append(
            finding(code, f"{path}: {exc.problem}", path, "", f"rewrite {path} as one JSON object")
        )
        return None
    if not isinstance(document, dict):
        found.append(
            finding(
                "artifact-json",
                f"{path}: expected a JSON object, found {type(document).__name__}",
                path,
                "",
                f"write {path} as one JSON object",
            )
        )
        return None
    from .schema import schema_errors  # imports jsonschema: only when a gate runs

    try:
        errors = schema_errors(schema_name, document)
    except RecursionError:
        errors = [("", "the document is nested too deeply to check")]
    for pointer, message in errors:
        found.append(
            finding(
                "artifact-schema",
                f"{path} {pointer or '(document)'}: {message}",
                path,
                pointer,
                f"fix the value to match the {schema_name} schema",
            )
        )
    return None if errors else document


# -- task files and deliverables -------------------------------------------------------------


def load_feature(context: StageContext, found: List[Finding]) -> Optional[StoredFeature]:
    """The feature's task files from the run's task store (by default the files store
    under the root, any of its three layouts), or ``None`` after a ``tasks-missing``
    finding."""
    from .storage.taskfiles import TASKS_DIR, FileTaskStore

    store = context.task_store
    try:
        return store.load(context.feature)
    except StageflowError:  # NotFound; or InvalidName for the layout names active, completed
        pass
    if isinstance(store, FileTaskStore):
        where = f"{TASKS_DIR}/{context.feature}"
        message = (
            f"feature {context.feature!r} has no task folder ({where}, or under active/ or "
            "completed/)"
        )
        if store.root != str(context.root):
            message += f" in {store.root}"
    else:
        where = context.feature
        message = f"feature {context.feature!r} has no task files in {store!r}"
    found.append(
        finding(
            "tasks-missing",
            message,
            where,
            None,
            f"write {where}/task.json and its subtask_NN.json files"
            if isinstance(store, FileTaskStore)
            else "create the feature's task.json and subtask_NN.json in the task store",
        )
    )
    return None


def no_subtasks(folder: str) -> Finding:
    return finding(
        "subtasks-missing",
        f"{folder} holds no subtask file (subtask_NN.json)",
        folder,
        None,
        "break the feature down into subtask_01.json, subtask_02.json, ...",
    )


def unusable_subtask(file: StoredFile) -> Finding:
    """A subtask file the task store could not read, as a finding."""
    problem = str(file.problem)
    unreadable = problem.startswith(("cannot be read", "is a symbolic link"))
    return finding(
        "artifact-unreadable" if unreadable else "artifact-json",
        f"{file.location}: {problem}",
        file.location,
        "",
        "make it a readable file" if unreadable else "rewrite it as one JSON object",
    )


_DRIVE = re.compile(r"^[A-Za-z]:")


def deliverable(root: Path, entry: object, path: str, pointer: str) -> List[Finding]:
    if not isinstance(entry, str) or not looks_like_path(entry):
        shown = entry if isinstance(entry, str) else type(entry).__name__
        return [
            finding(
                "deliverable-unchecked",
                f"deliverable {shown!r} is not a relative file path; it is not checked",
                path,
                pointer,
                None,
                Severity.INFO,
            )
        ]
    parts = re.split(r"[\\/]", entry)
    if entry.startswith(("/", "\\")) or _DRIVE.match(entry) or ".." in parts:
        return [
            finding(
                "deliverable-outside",
                f"deliverable {entry!r} is not a path inside the project root",
                path,
                pointer,
                "list deliverables relative to the project root, without '..'",
            )
        ]
    if match_output(root, entry):
        return []
    if os.path.lexists(root / entry):  # there, but resolves outside the root
        return [
            finding(
                "deliverable-outside",
                f"deliverable {entry!r} resolves outside the project root",
                path,
                pointer,
                "keep deliverables inside the project",
            )
        ]
    return [
        finding(
            "deliverable-missing",
            f"deliverable {entry!r} does not exist",
            path,
            pointer,
            f"write {entry}, or correct the subtask's deliverables",
        )
    ]

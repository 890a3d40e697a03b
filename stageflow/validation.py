"""Validate task files: every problem of a feature's ``task.json`` and ``subtask_{seq}.json``.

A feature lives at ``.tmp/tasks/{feature}/`` under the project root, or in the legacy
layouts ``.tmp/tasks/active/{feature}/`` and ``.tmp/tasks/completed/{feature}/`` (``active``
and ``completed`` are never features themselves). Subtask files are named
``subtask_{seq}.json`` with ``seq`` two or more ASCII digits.

:func:`validate_feature` and :func:`validate_all` read every file once, parse it once, and
return **every** finding; they never raise for a bad file. A file that is unreadable, empty,
truncated, not UTF-8, not JSON or not an object is one finding for that file, and every other
file and feature is still validated. Each :class:`~stageflow.findings.Finding` has ``path``
(the file, relative to the root, with ``/`` separators), ``pointer`` (RFC 6901, ``""`` for
the whole document), ``code``, ``severity``, ``message`` and a ``recommendation``.

Finding codes (severity in brackets):

``file-unreadable`` [error]
    the file cannot be read (permissions, a folder with a subtask's name, ...);
``json-empty``, ``json-truncated``, ``json-encoding``, ``json-invalid`` [error]
    the bytes are empty, cut short, not UTF-8, or not JSON;
``json-not-object`` [error]
    the JSON document is not an object;
``task-missing`` [error]
    the feature folder has no ``task.json``;
``ignored-file`` [warning]
    a file that looks like a subtask but is not read (``subtask_3.json``,
    ``subtask_01.json.bak``, ``Subtask_01.json``, ``subtask_ab.json``);
``feature-ambiguous`` [warning]
    the feature exists in more than one layout; the first of ``.tmp/tasks/``,
    ``active/``, ``completed/`` is validated;
``feature-name`` [warning]
    a folder under ``.tmp/tasks/`` whose name is not a valid feature name (not validated);
``schema``, ``schema-required`` [error]
    a JSON Schema violation (``schema-required``: a required field is absent);
``too-long`` [error]
    a text over its length limit (title and name 100; objective, summaries, reasons,
    descriptions and decisions 200), whether the schema or the code found it (never both);
``unknown-field`` [info]
    a top-level field the schema does not name (it is kept verbatim);
``id-mismatch`` [warning]
    ``task.json``'s id is not the feature name, or a subtask's id is not ``{feature}-{seq}``;
``seq-filename`` [error]
    a subtask's ``seq`` disagrees with its file name;
``duplicate-seq``, ``duplicate-id`` [error]
    two subtask files hold the same seq or id (reported on the later file);
``subtask-count``, ``completed-count`` [error]
    ``task.json``'s counts disagree with the files (``completed-count`` is only checked when
    every subtask file could be read);
``status-timestamp`` [error]
    ``completed`` without ``completed_at``, ``in_progress`` without ``started_at``;
``acceptance-criteria-empty``, ``deliverables-empty`` [warning]
    an empty list;
``verification-path`` [error]
    a verification check's path is absolute or leaves the project root;
the dependency codes of :func:`stageflow.graph.check_graph` (``dependency-missing``,
``dependency-self``, ``dependency-duplicate``, ``dependency-cycle``, ``blocked-by-cycle``),
the ``line-range-*`` codes of :func:`stageflow.linerange.check_line_ranges` and the
``rice-*``/``wsjf-*`` codes of :mod:`stageflow.scoring`.

Speed: the JSON Schema check uses the validators of :mod:`stageflow.schema`, compiled once.
Because ``jsonschema`` costs far more per document than reading and parsing it, each
schema is also compiled once into a small exact-or-unsure checker of closures
(:mod:`stageflow._minischema`, tested against ``jsonschema`` on generated documents); a
document it accepts is valid and ``jsonschema`` never sees it, and any other document goes
to ``jsonschema``, which reports the errors (as does every document, should a schema ever
use a keyword the checker does not implement). So the messages always come from
``jsonschema``.

Layout: :mod:`stageflow._taskfiles` finds the folders and reads the files,
:mod:`stageflow._taskcheck` checks one document, and this module checks a feature's files
together (seqs, ids, counts, the dependency graph).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from ._names import FEATURE_PATTERN
from ._taskcheck import check_common, check_subtask, precheck, schema_of
from ._taskfiles import (
    LEGACY_LAYOUTS,
    SUBTASK_FILE,
    TASKS_DIR,
    Root,
    candidates,
    discover,
    feature_dir,
    list_features,
    looks_like_subtask,
    read_document,
    stored_document,
)
from .errors import StageflowError
from .findings import Finding, Severity
from .graph import GraphError, TaskGraph, TaskNode, check_graph, seq_key
from .storage._taskdocs import MISSING, TASK_FILE

if TYPE_CHECKING:
    from .storage import StoredFeature, TaskStore

__all__ = [
    "LEGACY_LAYOUTS",
    "SUBTASK_FILE",
    "TASKS_DIR",
    "VALIDATION_CODES",
    "feature_dir",
    "list_features",
    "validate_all",
    "validate_feature",
    "validate_store",
    "validate_stored",
]

VALIDATION_CODES: Tuple[str, ...] = (
    "file-unreadable",
    "json-empty",
    "json-truncated",
    "json-encoding",
    "json-invalid",
    "json-not-object",
    "task-missing",
    "ignored-file",
    "feature-ambiguous",
    "feature-name",
    "schema",
    "schema-required",
    "too-long",
    "unknown-field",
    "id-mismatch",
    "seq-filename",
    "duplicate-seq",
    "duplicate-id",
    "subtask-count",
    "completed-count",
    "status-timestamp",
    "acceptance-criteria-empty",
    "deliverables-empty",
    "verification-path",
)
"""The codes this module produces itself (besides the graph, line-range and score codes)."""

_ERROR = Severity.ERROR
_WARNING = Severity.WARNING

# The compiled schemas and the pre-check, under the names the tests know them by.
_schema = schema_of
_precheck = precheck


def _is_integer(value: Any) -> bool:
    """A JSON integer (``True`` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool)


# -- a feature -------------------------------------------------------------------------------


def _validate_folder(root: str, rel: str, feature: str) -> List[Finding]:
    """Every finding of the feature in folder ``rel`` (relative to ``root``, ``/``-separated)."""
    folder = os.path.join(root, rel)
    try:
        with os.scandir(folder) as entries:
            names = sorted(entry.name for entry in entries)
    except OSError as exc:
        return [
            Finding(
                "file-unreadable",
                f"{rel}: the folder cannot be read ({exc.strerror or type(exc).__name__})",
                _ERROR,
                rel,
                "",
                "Make the feature folder readable",
            )
        ]
    full_prefix = os.path.join(folder, "")

    def read(name: str, path: str, found: List[Finding]) -> Optional[Dict[str, Any]]:
        return read_document(full_prefix + name, path, found)

    return _check_files(rel, feature, names, read)


def _check_files(
    rel: str,
    feature: str,
    names: List[str],
    read: Callable[[str, str, List[Finding]], Optional[Dict[str, Any]]],
) -> List[Finding]:
    """Every finding of the feature whose folder ``rel`` holds the files ``names`` (sorted);
    ``read(name, path, found)`` gives a file's JSON object, or ``None`` after a finding."""
    found: List[Finding] = []
    subtask_files: List[Tuple[str, str]] = []  # (file seq, name)
    has_task = False
    match = SUBTASK_FILE.match
    for name in names:
        matched = match(name)
        if matched is not None:
            subtask_files.append((matched.group(1), name))
        elif name == "task.json":
            has_task = True
        elif looks_like_subtask(name):
            found.append(
                Finding(
                    "ignored-file",
                    f"{rel}/{name} looks like a subtask file but is ignored: subtask files are "
                    "named subtask_{seq}.json with seq two or more digits",
                    _WARNING,
                    f"{rel}/{name}",
                    "",
                    "Rename it to subtask_NN.json (e.g. subtask_03.json), or move it away",
                )
            )
    if len({len(seq) for seq, _ in subtask_files}) > 1:  # one width: names sort by seq
        subtask_files.sort(key=lambda item: seq_key(item[0]))
    cache: Dict[str, Tuple[Finding, ...]] = {}

    task: Optional[Dict[str, Any]] = None
    task_path = rel + "/task.json"
    if has_task:
        task = read("task.json", task_path, found)
    else:
        found.append(
            Finding(
                "task-missing",
                f"{rel} has no task.json",
                _ERROR,
                task_path,
                "",
                "Create task.json for the feature (id, name, status, objective, created_at)",
            )
        )
    if task is not None:
        check_common(task, "task", task_path, cache, found)
        task_id = task.get("id")
        if isinstance(task_id, str) and task_id != feature:
            found.append(
                Finding(
                    "id-mismatch",
                    f"task.json's id {task_id!r} is not the feature name {feature!r}",
                    _WARNING,
                    task_path,
                    "/id",
                    f"Set id to {feature!r}",
                )
            )

    nodes: List[Tuple[str, str, List[str]]] = []  # (seq, status, depends_on)
    paths: Dict[str, str] = {}
    seen_ids: Dict[str, str] = {}
    completed = 0
    unread = 0
    unread_seqs: List[Tuple[str, str]] = []
    prefix = rel + "/"
    id_prefix = feature + "-"
    # True while every dependency names an earlier task, once: then the graph has no
    # missing, self or repeated dependency, and no cycle (every edge points back), so it
    # has no finding. Only otherwise is check_graph asked (it writes the findings).
    backwards = True
    for file_seq, name in subtask_files:
        path = prefix + name
        doc = read(name, path, found)
        if doc is None:
            unread += 1
            unread_seqs.append((file_seq, path))
            continue
        check_common(doc, "subtask", path, cache, found)
        check_subtask(doc, path, found)
        seq = doc.get("seq")
        if not isinstance(seq, str):
            seq = file_seq
        elif seq != file_seq:
            found.append(
                Finding(
                    "seq-filename",
                    f"seq {seq!r} disagrees with the file name {name} (seq {file_seq!r})",
                    _ERROR,
                    path,
                    "/seq",
                    f"Set seq to {file_seq!r}, or rename the file to subtask_{seq}.json",
                )
            )
        sub_id = doc.get("id")
        if isinstance(sub_id, str):
            other = seen_ids.setdefault(sub_id, path)
            if other is not path:
                found.append(
                    Finding(
                        "duplicate-id",
                        f"id {sub_id!r} is also the id of {other}",
                        _ERROR,
                        path,
                        "/id",
                        "Give every subtask its own id ({feature}-{seq})",
                    )
                )
            if sub_id != id_prefix + seq:
                found.append(
                    Finding(
                        "id-mismatch",
                        f"id {sub_id!r} is not {feature}-{seq}",
                        _WARNING,
                        path,
                        "/id",
                        f"Set id to {feature + '-' + seq!r}",
                    )
                )
        status = doc.get("status")
        if status == "completed":
            completed += 1
        if seq in paths:
            found.append(
                Finding(
                    "duplicate-seq",
                    f"seq {seq!r} is also the seq of {paths[seq]}",
                    _ERROR,
                    path,
                    "/seq",
                    "Give every subtask its own seq, matching its file name",
                )
            )
            continue
        deps = doc.get("depends_on")
        depends_on = [d for d in deps if isinstance(d, str)] if isinstance(deps, list) else []
        if backwards and depends_on:
            for dep in depends_on:
                if dep not in paths:
                    backwards = False
                    break
            if len(depends_on) > 1 and len(set(depends_on)) < len(depends_on):
                backwards = False
        paths[seq] = path
        nodes.append((seq, status if isinstance(status, str) else "", depends_on))

    # A file that could not be read still holds its seq: its dependants are not told that
    # it is missing (its own finding says what is wrong), and it counts as unfinished.
    for file_seq, path in unread_seqs:
        if file_seq not in paths:
            paths[file_seq] = path
            nodes.append((file_seq, "", []))
    if not backwards:
        _graph(nodes, paths, task_path, found)

    if task is not None:
        _counts(task, task_path, len(subtask_files), completed, unread, found)
    return found


def _graph(
    nodes: List[Tuple[str, str, List[str]]],
    paths: Dict[str, str],
    task_path: str,
    found: List[Finding],
) -> None:
    """The findings of :func:`~stageflow.graph.check_graph` on the feature's tasks."""
    try:
        graph = TaskGraph([TaskNode(seq, status, deps) for seq, status, deps in nodes])
        found.extend(check_graph(graph, paths=paths))
    except GraphError as exc:  # pragma: no cover - the nodes are built to be valid
        found.append(Finding("dependency-graph", str(exc), _ERROR, task_path, ""))


def _counts(
    task: Dict[str, Any], path: str, files: int, completed: int, unread: int, found: List[Finding]
) -> None:
    checks = [("subtask_count", "subtask-count", files, "subtask files")]
    if not unread:
        checks.append(("completed_count", "completed-count", completed, "completed subtasks"))
    for key, code, actual, what in checks:
        value = task.get(key)
        if _is_integer(value) and value != actual:
            found.append(
                Finding(
                    code,
                    f"{key} is {value} but the feature has {actual} {what}",
                    _ERROR,
                    path,
                    "/" + key,
                    f"Set {key} to {actual}",
                )
            )


# -- the public calls ------------------------------------------------------------------------


def _ambiguous(feature: str, rels: Tuple[str, ...]) -> List[Finding]:
    if len(rels) < 2:
        return []
    return [
        Finding(
            "feature-ambiguous",
            f"feature {feature!r} exists in {len(rels)} places ({', '.join(rels)}); "
            f"only {rels[0]} is validated",
            _WARNING,
            rel,
            "",
            "Keep one folder per feature",
        )
        for rel in rels[1:]
    ]


def validate_feature(root: Root, feature: str) -> Tuple[Finding, ...]:
    """Every finding of one feature under the project ``root``; never raises for a bad file.

    Raises :class:`~stageflow.errors.InvalidName` for an invalid feature name and
    :class:`~stageflow.errors.NotFound` when the feature has no folder in any layout.
    """
    rel = feature_dir(root, feature)
    base = os.fspath(root)
    rels = tuple(r for r in candidates(feature) if os.path.isdir(os.path.join(base, r)))
    return tuple(_ambiguous(feature, rels) + _validate_folder(base, rel, feature))


def validate_all(root: Root) -> Dict[str, Tuple[Finding, ...]]:
    """Every feature under ``root`` -> its findings, in feature-name order.

    One bad feature never stops the others. A folder whose name is not a valid feature
    name gets one ``feature-name`` warning and is not validated. No ``.tmp/tasks`` folder
    gives an empty dict.
    """
    base = os.fspath(root)
    results: Dict[str, Tuple[Finding, ...]] = {}
    for name, rels in discover(base).items():
        if not FEATURE_PATTERN.match(name):
            results[name] = tuple(
                Finding(
                    "feature-name",
                    f"{rel} is not a valid feature name and is not validated",
                    _WARNING,
                    rel,
                    "",
                    "Use lowercase letters, digits and '-', starting with a letter or digit",
                )
                for rel in rels
            )
            continue
        results[name] = tuple(_ambiguous(name, rels) + _validate_folder(base, rels[0], name))
    return results


def validate_stored(stored: StoredFeature) -> Tuple[Finding, ...]:
    """Every finding of one feature as a task store returned it (:meth:`TaskStore.load`).

    The checks of :func:`validate_feature`, but of the documents the store holds: a store
    has no folder to list, so there is no ``ignored-file`` or ``feature-ambiguous``
    finding, and the paths are the files' locations in the store.
    """
    files = {f.name: f for f in stored.subtasks}
    if stored.task.problem != MISSING:
        files[TASK_FILE] = stored.task

    def read(name: str, path: str, found: List[Finding]) -> Optional[Dict[str, Any]]:
        return stored_document(files[name], path, found)

    return tuple(_check_files(stored.folder, stored.feature, sorted(files), read))


def validate_store(
    store: TaskStore, feature: Optional[str] = None
) -> Dict[str, Tuple[Finding, ...]]:
    """Feature -> its findings, of ``feature`` or of every feature of a task store.

    A files store is validated as its folders are (:func:`validate_feature`,
    :func:`validate_all` of its root); any other store by its documents
    (:func:`validate_stored`). Raises as :meth:`TaskStore.load` does for an unknown
    ``feature``; without one, a feature that cannot be loaded gets a ``file-unreadable``
    finding and never stops the others.
    """
    from .storage.taskfiles import FileTaskStore

    if isinstance(store, FileTaskStore):
        if feature is not None:
            return {feature: validate_feature(store.root, feature)}
        return validate_all(store.root)
    if feature is not None:
        return {feature: validate_stored(store.load(feature))}
    results: Dict[str, Tuple[Finding, ...]] = {}
    for name in store.features():
        try:
            results[name] = validate_stored(store.load(name))
        except StageflowError as exc:
            results[name] = (
                Finding(
                    "file-unreadable",
                    f"feature {name!r} cannot be read: {exc.message}",
                    _ERROR,
                    name,
                    "",
                    "Restore the feature's task files",
                ),
            )
    return results

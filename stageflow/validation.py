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
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Set, Tuple, Union

import attrs

from ._minischema import MiniSchema, json_type_phrase, pointer_part
from ._names import FEATURE_PATTERN, check_feature
from ._rundoc import parse_json_bytes
from .errors import NotFound, StateFileError
from .findings import Finding, Severity
from .graph import GraphError, TaskGraph, TaskNode, check_graph, seq_key
from .linerange import check_line_ranges
from .scoring import check_rice, check_wsjf

__all__ = [
    "LEGACY_LAYOUTS",
    "SUBTASK_FILE",
    "TASKS_DIR",
    "VALIDATION_CODES",
    "feature_dir",
    "list_features",
    "validate_all",
    "validate_feature",
]

TASKS_DIR = ".tmp/tasks"
"""Where features live, relative to the project root."""

LEGACY_LAYOUTS: Tuple[str, ...] = ("active", "completed")
"""Folders under :data:`TASKS_DIR` that hold features (and are not features themselves)."""

SUBTASK_FILE = re.compile(r"subtask_([0-9]{2,})\.json\Z")
"""The name of a subtask file; group 1 is the seq."""

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

_Root = Union[str, "os.PathLike[str]"]

_ERROR = Severity.ERROR
_WARNING = Severity.WARNING
_INFO = Severity.INFO


def _is_integer(value: Any) -> bool:
    """A JSON integer (``True`` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool)


# -- schemas, compiled once ------------------------------------------------------------------


class _Schema:
    """One schema: its reused checkers (the fast pre-check and jsonschema) and properties."""

    def __init__(self, name: str) -> None:
        from .schema import schema, validator

        document = schema(name)
        self.validator = validator(name)
        self.is_valid = _precheck(document)
        properties = document.get("properties", {})
        self.known = frozenset(properties if isinstance(properties, dict) else ())
        self.limits = _LIMITS[name] + _LIST_LIMITS
        self.unbounded = tuple(s for s in self.limits if not _bounded(document, s))


def _unsure(document: Any) -> bool:
    return False


def _precheck(document: Dict[str, Any]) -> Callable[[Any], bool]:
    """The fast checker of a schema; one that always defers if it uses a keyword that
    :mod:`stageflow._minischema` does not implement (then jsonschema decides every time)."""
    try:
        return MiniSchema(document).is_valid
    except ValueError:
        return _unsure


_SCHEMAS: Dict[str, _Schema] = {}


def _schema(name: str) -> _Schema:
    found = _SCHEMAS.get(name)
    if found is None:
        found = _SCHEMAS[name] = _Schema(name)
    return found


def _schema_findings(
    name: str, document: Any, path: str, skip: Tuple[str, ...] = ()
) -> Tuple[List[Finding], Optional[Set[str]]]:
    """The schema findings of ``document`` and the pointers of its maxLength errors.

    The pointers are None when the document is valid.
    """
    compiled = _SCHEMAS.get(name) or _schema(name)
    try:
        if compiled.is_valid(document):  # exact when it says valid: jsonschema would agree
            return [], None
    except RecursionError:
        pass  # unsure: jsonschema decides
    found: List[Tuple[Tuple[Any, ...], Finding]] = []
    too_long: Set[str] = set()
    try:
        errors = list(compiled.validator.iter_errors(document))
    except RecursionError:
        deep = Finding(
            "schema",
            "the document is nested too deeply to check against the schema",
            _ERROR,
            path,
            "",
            "Flatten the document",
        )
        return [deep], set()
    if not errors:
        return [], None
    for error in errors:
        parts = list(error.absolute_path)
        pointer = "".join(pointer_part(p) for p in parts)
        if skip and pointer.startswith(skip):
            continue
        kind = error.validator
        if kind == "maxLength":
            too_long.add(pointer)
            finding = Finding(
                "too-long",
                f"{pointer or 'the document'}: {_short(error.message)}",
                _ERROR,
                path,
                pointer,
                f"Shorten it to at most {error.validator_value} characters",
            )
        elif kind == "required":
            finding = Finding(
                "schema-required",
                f"{pointer or 'the document'}: {error.message}",
                _ERROR,
                path,
                pointer,
                "Add the missing field",
            )
        else:
            finding = Finding(
                "schema",
                f"{pointer or 'the document'}: {_short(error.message)}",
                _ERROR,
                path,
                pointer,
                f"Fix the value to match the {name} schema ({kind})",
            )
        order = tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in parts)
        found.append((order, finding))
    found.sort(key=lambda item: (item[0], item[1].message))
    return [f for _, f in found], too_long


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


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


def _read(full: str, path: str, found: List[Finding]) -> Optional[Dict[str, Any]]:
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


# -- checks on one document ------------------------------------------------------------------

# Texts with a length limit: (key, field inside it, how the field sits in it, limit). The
# schema bounds most of them; a document the schema accepts skips those.
_LimitSpec = Tuple[str, str, str, int]
_TEXT_LIMIT = 200
_LIMITS: Dict[str, Tuple[_LimitSpec, ...]] = {
    "task": (("name", "", "", 100), ("title", "", "", 100), ("objective", "", "", 200)),
    "subtask": (
        ("title", "", "", 100),
        ("completion_summary", "", "", 200),
        ("blocked_reason", "", "", 200),
        ("reopen_reason", "", "", 200),
        ("forced_completion", "reason", "object", 200),
    ),
}
_LIST_LIMITS: Tuple[_LimitSpec, ...] = (
    ("context_files", "reason", "list", 200),
    ("reference_files", "reason", "list", 200),
    ("contracts", "description", "list", 200),
    ("design_components", "description", "list", 200),
    ("related_adrs", "decision", "list", 200),
)


def _resolve(root: Mapping[str, Any], node: Any) -> Any:
    """``node`` with its local ``$ref`` chain followed (None when it cannot be)."""
    for _ in range(20):
        if not isinstance(node, dict) or "$ref" not in node:
            return node
        ref = node["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return None
        node = root
        for part in ref[2:].split("/"):
            node = node.get(part) if isinstance(node, dict) else None
    return None


def _bounded(root: Mapping[str, Any], spec: _LimitSpec) -> bool:
    """True when the schema gives the text of ``spec`` a maxLength within its limit."""
    key, field, how, limit = spec
    node = _resolve(root, root.get("properties", {}).get(key))
    if how == "list":
        node = _resolve(root, node.get("items")) if isinstance(node, dict) else None
    if how:
        props = node.get("properties") if isinstance(node, dict) else None
        node = _resolve(root, props.get(field)) if isinstance(props, dict) else None
    high = node.get("maxLength") if isinstance(node, dict) else None
    return type(high) is int and high <= limit


def _too_long(
    document: Dict[str, Any],
    specs: Tuple[_LimitSpec, ...],
    path: str,
    reported: Set[str],
    found: List[Finding],
) -> None:
    def check(value: Any, pointer: str, limit: int) -> None:
        if isinstance(value, str) and len(value) > limit and pointer not in reported:
            found.append(
                Finding(
                    "too-long",
                    f"{pointer}: {len(value)} characters, more than the limit of {limit}",
                    _ERROR,
                    path,
                    pointer,
                    f"Shorten it to at most {limit} characters",
                )
            )

    for key, field, how, limit in specs:
        value = document.get(key)
        if value is None:
            continue
        if not how:
            check(value, "/" + key, limit)
        elif how == "object":
            if isinstance(value, dict):
                check(value.get(field), f"/{key}/{field}", limit)
        elif isinstance(value, list):
            for number, item in enumerate(value):
                if isinstance(item, dict):
                    check(item.get(field), f"/{key}/{number}/{field}", limit)


def _line_ranges(
    document: Dict[str, Any],
    path: str,
    cache: Dict[str, Tuple[Finding, ...]],
    found: List[Finding],
) -> None:
    for key in ("context_files", "reference_files"):
        items = document.get(key)
        if not isinstance(items, list):
            continue
        for number, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            lines = item.get("lines")
            if not isinstance(lines, str):
                continue  # absent, null, or a type error the schema reports
            results = cache.get(lines)
            if results is None:
                results = cache[lines] = check_line_ranges(lines).findings
            pointer = f"/{key}/{number}/lines"
            found.extend(attrs.evolve(f, path=path, pointer=pointer) for f in results)


def _scores(document: Dict[str, Any], path: str, found: List[Finding]) -> Tuple[str, ...]:
    """Check the score blocks; return the pointers of the blocks that had findings."""
    noisy: List[str] = []
    for key, check in (("rice_score", check_rice), ("wsjf_score", check_wsjf)):
        if key in document:
            results = check(document[key], "/" + key, path=path)
            if results:
                noisy.append("/" + key)
                found.extend(results)
    return tuple(noisy)


def _escapes_root(text: str) -> bool:
    """True if the path is absolute or leaves the directory it is relative to."""
    if text.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", text):
        return True
    depth = 0
    for part in re.split(r"[/\\]", text):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def _verification(document: Dict[str, Any], path: str, found: List[Finding]) -> None:
    checks = document.get("verification")
    if not isinstance(checks, list):
        return
    for number, check in enumerate(checks):
        if not isinstance(check, dict):
            continue
        target = check.get("path")
        if isinstance(target, str) and _escapes_root(target.strip()):
            found.append(
                Finding(
                    "verification-path",
                    f"Verification check {number}: the path {json.dumps(target)} is "
                    "absolute or outside the project root",
                    _ERROR,
                    path,
                    f"/verification/{number}/path",
                    "Use a path relative to the project root that stays inside it",
                )
            )


def _status_timestamps(document: Dict[str, Any], path: str, found: List[Finding]) -> None:
    status = document.get("status")
    for wanted, key in (("completed", "completed_at"), ("in_progress", "started_at")):
        if status != wanted:
            continue
        value = document.get(key)
        if not isinstance(value, str) or not value.strip():
            found.append(
                Finding(
                    "status-timestamp",
                    f"The status is {wanted} but {key} is not set",
                    _ERROR,
                    path,
                    "/" + key,
                    f"Set {key} to when it happened (ISO 8601), or correct the status",
                )
            )


def _common(
    document: Dict[str, Any],
    kind: str,
    path: str,
    cache: Dict[str, Tuple[Finding, ...]],
    found: List[Finding],
) -> None:
    """Checks shared by task.json and the subtasks."""
    compiled = _SCHEMAS.get(kind) or _schema(kind)
    if "rice_score" in document or "wsjf_score" in document:
        score_found: List[Finding] = []
        noisy = _scores(document, path, score_found)
        schema_found, too_long = _schema_findings(kind, document, path, noisy)
        found.extend(schema_found)
        found.extend(score_found)
    else:
        schema_found, too_long = _schema_findings(kind, document, path)
        found.extend(schema_found)
    known = compiled.known
    for key in document if not document.keys() <= known else ():
        if key not in known:
            found.append(
                Finding(
                    "unknown-field",
                    f"{key!r} is not a field of the {kind} schema; it is kept as it is",
                    _INFO,
                    path,
                    pointer_part(key),
                    None,
                )
            )
    # too_long is None when the document is valid: only the texts the schema leaves
    # unbounded need a look. Otherwise every text, except where the schema reported it.
    if too_long is None:
        if compiled.unbounded:
            _too_long(document, compiled.unbounded, path, set(), found)
    else:
        _too_long(document, compiled.limits, path, too_long, found)
    status = document.get("status")
    if status == "completed" or status == "in_progress":
        _status_timestamps(document, path, found)
    _line_ranges(document, path, cache, found)


def _empty_lists(document: Dict[str, Any], path: str, found: List[Finding]) -> None:
    for key, code in (
        ("acceptance_criteria", "acceptance-criteria-empty"),
        ("deliverables", "deliverables-empty"),
    ):
        value = document.get(key)
        if type(value) is list and not value:
            found.append(
                Finding(
                    code,
                    f"{key} is empty",
                    _WARNING,
                    path,
                    "/" + key,
                    f"List at least one item in {key}",
                )
            )


# -- a feature -------------------------------------------------------------------------------


def _looks_like_subtask(name: str) -> bool:
    lower = name.lower()
    return lower.startswith(("subtask_", "subtask-", "subtask.")) or (
        lower.startswith("subtask") and ".json" in lower
    )


def _validate_folder(root: str, rel: str, feature: str) -> List[Finding]:
    """Every finding of the feature in folder ``rel`` (relative to ``root``, ``/``-separated)."""
    found: List[Finding] = []
    folder = os.path.join(root, rel)
    subtask_files: List[Tuple[str, str]] = []  # (file seq, name)
    has_task = False
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
    match = SUBTASK_FILE.match
    for name in names:
        matched = match(name)
        if matched is not None:
            subtask_files.append((matched.group(1), name))
        elif name == "task.json":
            has_task = True
        elif _looks_like_subtask(name):
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
    subtask_files.sort(key=lambda item: seq_key(item[0]))
    cache: Dict[str, Tuple[Finding, ...]] = {}

    task: Optional[Dict[str, Any]] = None
    task_path = rel + "/task.json"
    if has_task:
        task = _read(os.path.join(folder, "task.json"), task_path, found)
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
        _common(task, "task", task_path, cache, found)
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

    nodes: List[TaskNode] = []
    paths: Dict[str, str] = {}
    seen_ids: Dict[str, str] = {}
    completed = 0
    unread = 0
    unread_seqs: List[Tuple[str, str]] = []
    prefix = rel + "/"
    full_prefix = os.path.join(folder, "")
    for file_seq, name in subtask_files:
        path = prefix + name
        doc = _read(full_prefix + name, path, found)
        if doc is None:
            unread += 1
            unread_seqs.append((file_seq, path))
            continue
        _common(doc, "subtask", path, cache, found)
        _empty_lists(doc, path, found)
        if "verification" in doc:
            _verification(doc, path, found)
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
            other = seen_ids.get(sub_id)
            if other is not None:
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
            else:
                seen_ids[sub_id] = path
            if sub_id != f"{feature}-{seq}":
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
        paths[seq] = path
        nodes.append(TaskNode(seq, status if isinstance(status, str) else "", depends_on))

    # A file that could not be read still holds its seq: its dependants are not told that
    # it is missing (its own finding says what is wrong), and it counts as unfinished.
    for file_seq, path in unread_seqs:
        if file_seq not in paths:
            paths[file_seq] = path
            nodes.append(TaskNode(file_seq, "", ()))
    try:
        found.extend(check_graph(TaskGraph(nodes), paths=paths))
    except GraphError as exc:  # pragma: no cover - the nodes are built to be valid
        found.append(Finding("dependency-graph", str(exc), _ERROR, task_path, ""))

    if task is not None:
        _counts(task, task_path, len(subtask_files), completed, unread, found)
    return found


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


# -- discovery and the public calls ----------------------------------------------------------


def _candidates(feature: str) -> Tuple[str, ...]:
    return (
        f"{TASKS_DIR}/{feature}",
        *(f"{TASKS_DIR}/{layout}/{feature}" for layout in LEGACY_LAYOUTS),
    )


def feature_dir(root: _Root, feature: str) -> str:
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
    for rel in _candidates(feature):
        if os.path.isdir(os.path.join(base, rel)):
            return rel
    raise NotFound(f"feature {feature!r} not found under {os.path.join(base, TASKS_DIR)}", feature)


def list_features(root: _Root) -> Dict[str, Tuple[str, ...]]:
    """Every feature folder under ``root``: feature name -> its folders, in layout order.

    Folder names that are not valid feature names are left out (:func:`validate_all`
    reports them). A missing ``.tmp/tasks`` gives an empty dict.
    """
    return {
        name: rels
        for name, rels in _discover(os.fspath(root)).items()
        if FEATURE_PATTERN.match(name) and name not in LEGACY_LAYOUTS
    }


def _subdirs(path: str) -> List[str]:
    try:
        with os.scandir(path) as entries:
            return sorted(e.name for e in entries if e.is_dir())
    except OSError:
        return []


def _discover(root: str) -> Dict[str, Tuple[str, ...]]:
    found: Dict[str, List[str]] = {}
    base = os.path.join(root, TASKS_DIR)
    for name in _subdirs(base):
        if name not in LEGACY_LAYOUTS:
            found.setdefault(name, []).append(f"{TASKS_DIR}/{name}")
    for layout in LEGACY_LAYOUTS:
        for name in _subdirs(os.path.join(base, layout)):
            found.setdefault(name, []).append(f"{TASKS_DIR}/{layout}/{name}")
    return {name: tuple(rels) for name, rels in sorted(found.items())}


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


def validate_feature(root: _Root, feature: str) -> Tuple[Finding, ...]:
    """Every finding of one feature under the project ``root``; never raises for a bad file.

    Raises :class:`~stageflow.errors.InvalidName` for an invalid feature name and
    :class:`~stageflow.errors.NotFound` when the feature has no folder in any layout.
    """
    rel = feature_dir(root, feature)
    base = os.fspath(root)
    rels = tuple(r for r in _candidates(feature) if os.path.isdir(os.path.join(base, r)))
    return tuple(_ambiguous(feature, rels) + _validate_folder(base, rel, feature))


def validate_all(root: _Root) -> Dict[str, Tuple[Finding, ...]]:
    """Every feature under ``root`` -> its findings, in feature-name order.

    One bad feature never stops the others. A folder whose name is not a valid feature
    name gets one ``feature-name`` warning and is not validated. No ``.tmp/tasks`` folder
    gives an empty dict.
    """
    base = os.fspath(root)
    results: Dict[str, Tuple[Finding, ...]] = {}
    for name, rels in _discover(base).items():
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

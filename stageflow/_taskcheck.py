"""The checks of one task document (``task.json`` or a ``subtask_{seq}.json``).

Each check appends findings to a list and builds nothing when the document is fine. The
JSON Schema check runs the fast exact-or-unsure pre-check of :mod:`stageflow._minischema`
first; only a document it does not accept goes to the reused ``jsonschema`` validator,
which writes the findings. The finding codes are documented in :mod:`stageflow.validation`.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Set, Tuple

import attrs

from ._minischema import MiniSchema, pointer_part
from .findings import Finding, Severity
from .linerange import check_line_ranges
from .scoring import check_rice, check_wsjf

_ERROR = Severity.ERROR
_WARNING = Severity.WARNING
_INFO = Severity.INFO


# -- schemas, compiled once ------------------------------------------------------------------


class _Schema:
    """One schema: its reused checkers (the fast pre-check and jsonschema) and properties."""

    def __init__(self, name: str) -> None:
        from .schema import schema, validator

        document = schema(name)
        self.validator = validator(name)
        self.is_valid = precheck(document)
        properties = document.get("properties", {})
        self.known = frozenset(properties if isinstance(properties, dict) else ())
        self.limits = _LIMITS[name] + _LIST_LIMITS
        self.unbounded = tuple(s for s in self.limits if not _bounded(document, s))


def _unsure(document: Any) -> bool:
    return False


def precheck(document: Dict[str, Any]) -> Callable[[Any], bool]:
    """The fast checker of a schema; one that always defers if it uses a keyword that
    :mod:`stageflow._minischema` does not implement (then jsonschema decides every time)."""
    try:
        return MiniSchema(document).is_valid
    except ValueError:
        return _unsure


_SCHEMAS: Dict[str, _Schema] = {}


def schema_of(name: str) -> _Schema:
    found = _SCHEMAS.get(name)
    if found is None:
        found = _SCHEMAS[name] = _Schema(name)
    return found


def _accepts(compiled: _Schema, document: Any) -> bool:
    """True if the pre-check accepts ``document``: it is valid, jsonschema need not look."""
    try:
        return compiled.is_valid(document)
    except RecursionError:
        return False  # unsure: jsonschema decides


def _schema_findings(
    name: str, document: Any, path: str, skip: Tuple[str, ...] = ()
) -> Tuple[List[Finding], Optional[Set[str]]]:
    """The jsonschema findings of a document the pre-check did not accept, and the
    pointers of its maxLength errors (None when jsonschema finds it valid after all).
    """
    compiled = _SCHEMAS.get(name) or schema_of(name)
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


_FILE_LISTS = ("context_files", "reference_files")


def _line_ranges(
    document: Dict[str, Any],
    path: str,
    cache: Dict[str, Tuple[Finding, ...]],
    found: List[Finding],
) -> None:
    for key in _FILE_LISTS:
        items = document.get(key)
        if not isinstance(items, list):
            continue
        for item in items:  # absent, null or non-string lines: none, or the schema's
            if isinstance(item, dict):
                lines = item.get("lines")
                if isinstance(lines, str):
                    results = cache.get(lines)
                    if results is None:
                        results = cache[lines] = check_line_ranges(lines).findings
                    if results:  # rare: report every item of the list, with its number
                        _report_line_ranges(items, key, path, cache, found)
                        break


def _report_line_ranges(
    items: List[Any],
    key: str,
    path: str,
    cache: Dict[str, Tuple[Finding, ...]],
    found: List[Finding],
) -> None:
    for number, item in enumerate(items):
        lines = item.get("lines") if isinstance(item, dict) else None
        if isinstance(lines, str):
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


_DRIVE = re.compile(r"[A-Za-z]:").match
_SEPARATORS = re.compile(r"[/\\]").split


def _escapes_root(text: str) -> bool:
    """True if the path is absolute or leaves the directory it is relative to."""
    if text.startswith(("/", "\\")) or _DRIVE(text):
        return True
    depth = 0
    for part in _SEPARATORS(text):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def check_verification(document: Dict[str, Any], path: str, found: List[Finding]) -> None:
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


def check_common(
    document: Dict[str, Any],
    kind: str,
    path: str,
    cache: Dict[str, Tuple[Finding, ...]],
    found: List[Finding],
) -> None:
    """Checks shared by task.json and the subtasks."""
    compiled = _SCHEMAS.get(kind) or schema_of(kind)
    too_long: Optional[Set[str]] = None
    if "rice_score" in document or "wsjf_score" in document:
        score_found: List[Finding] = []
        noisy = _scores(document, path, score_found)
        if not _accepts(compiled, document):
            schema_found, too_long = _schema_findings(kind, document, path, noisy)
            found.extend(schema_found)
        found.extend(score_found)
    else:
        try:  # _accepts, inline: this is the path of every subtask
            valid = compiled.is_valid(document)
        except RecursionError:
            valid = False
        if not valid:
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


_NOT_EMPTY = (
    ("acceptance_criteria", "acceptance-criteria-empty"),
    ("deliverables", "deliverables-empty"),
)


def check_subtask(document: Dict[str, Any], path: str, found: List[Finding]) -> None:
    """The checks of a subtask alone: empty lists, verification paths."""
    check_empty_lists(document, path, found)
    if "verification" in document:
        check_verification(document, path, found)


def check_empty_lists(document: Dict[str, Any], path: str, found: List[Finding]) -> None:
    for key, code in _NOT_EMPTY:
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

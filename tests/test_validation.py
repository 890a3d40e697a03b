"""Task-file validation: every problem of a feature as a finding, never a crash.

The seed feature validates clean; each check is exercised by injecting one fault into a copy
of it (table-driven, with the exact code, file and JSON pointer expected); bad files and bad
features never stop the others; the legacy layouts are found; and Hypothesis checks that
generated fault-free features get no finding while one injected fault is always reported.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Set, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stageflow import schema as schema_module
from stageflow.errors import InvalidName, NotFound, StageflowError
from stageflow.examples import ORDER_MANAGEMENT
from stageflow.findings import Finding, Severity
from stageflow.validation import (
    VALIDATION_CODES,
    _schema,
    feature_dir,
    list_features,
    validate_all,
    validate_feature,
)

SEED = ORDER_MANAGEMENT / "order-management-mvp"
FEATURE = "order-management-mvp"
REL = f".tmp/tasks/{FEATURE}"

Docs = Dict[str, Any]  # file name -> document (task.json and subtask_NN.json)
Key = Tuple[str, str, str]  # (code, path relative to the feature folder, pointer)


# -- helpers ----------------------------------------------------------------------------------


def seed_project(root: Path, rel: str = REL) -> Path:
    """Copy the seed feature to ``root/rel`` and return the folder."""
    folder = root / rel
    folder.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(SEED, folder)
    return folder


def load_docs(folder: Path) -> Docs:
    return {p.name: json.loads(p.read_text("utf-8")) for p in sorted(folder.glob("*.json"))}


def write_docs(folder: Path, docs: Docs) -> None:
    for name, doc in docs.items():
        (folder / name).write_text(json.dumps(doc, indent=2), "utf-8")


def keys(findings: Tuple[Finding, ...], rel: str = REL) -> Set[Key]:
    """(code, file relative to the feature folder, pointer) of every finding."""
    out = set()
    for f in findings:
        assert f.path is not None
        assert f.path.startswith(rel + "/"), f.path
        assert f.pointer is not None
        out.add((f.code, f.path[len(rel) + 1 :], f.pointer))
    return out


def task(docs: Docs) -> Dict[str, Any]:
    doc: Dict[str, Any] = docs["task.json"]
    return doc


def sub(docs: Docs, seq: str) -> Dict[str, Any]:
    doc: Dict[str, Any] = docs[f"subtask_{seq}.json"]
    return doc


# -- the seed ---------------------------------------------------------------------------------


def test_seed_feature_has_no_finding_at_all(tmp_path: Path) -> None:
    # The seed example is clean: no error, no warning and no info (every field is known
    # to the schemas, every count, score, line range and dependency is consistent).
    seed_project(tmp_path)
    assert validate_feature(tmp_path, FEATURE) == ()
    assert validate_feature(str(tmp_path), FEATURE) == ()
    assert validate_all(tmp_path) == {FEATURE: ()}
    assert list_features(tmp_path) == {FEATURE: (REL,)}


def test_no_tasks_folder_means_no_feature(tmp_path: Path) -> None:
    assert validate_all(tmp_path) == {}
    assert list_features(tmp_path) == {}


def test_bad_feature_names_and_missing_features_raise_stageflow_errors(tmp_path: Path) -> None:
    seed_project(tmp_path)
    with pytest.raises(InvalidName):
        validate_feature(tmp_path, "../etc")
    with pytest.raises(InvalidName):
        validate_feature(tmp_path, "active")
    with pytest.raises(NotFound) as caught:
        validate_feature(tmp_path, "nope")
    assert isinstance(caught.value, StageflowError)
    assert caught.value.feature == "nope"


# -- fault injection, one check at a time -----------------------------------------------------

Mutation = Callable[[Docs], None]


def _set(name: str, pointer: str, value: Any) -> Mutation:
    """A mutation setting the value at ``pointer`` (``/a/0/b``) in file ``name``."""

    def mutate(docs: Docs) -> None:
        parts = pointer.strip("/").split("/")
        target = docs[name]
        for part in parts[:-1]:
            target = target[int(part)] if isinstance(target, list) else target[part]
        last = parts[-1]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return mutate


def _delete(name: str, key: str) -> Mutation:
    def mutate(docs: Docs) -> None:
        del docs[name][key]

    return mutate


def _both(*mutations: Mutation) -> Mutation:
    def mutate(docs: Docs) -> None:
        for m in mutations:
            m(docs)

    return mutate


BELOW_03 = ("07", "08", "09", "11", "12")
BELOW_CYCLE = ("06", "08", "09", "10", "11", "12")
S03 = "subtask_03.json"
S05 = "subtask_05.json"
T = "task.json"

SEVERITY = {
    "schema": Severity.ERROR,
    "schema-required": Severity.ERROR,
    "too-long": Severity.ERROR,
    "unknown-field": Severity.INFO,
    "id-mismatch": Severity.WARNING,
    "seq-filename": Severity.ERROR,
    "duplicate-seq": Severity.ERROR,
    "duplicate-id": Severity.ERROR,
    "subtask-count": Severity.ERROR,
    "completed-count": Severity.ERROR,
    "status-timestamp": Severity.ERROR,
    "acceptance-criteria-empty": Severity.WARNING,
    "deliverables-empty": Severity.WARNING,
    "verification-path": Severity.ERROR,
    "dependency-missing": Severity.ERROR,
    "dependency-self": Severity.ERROR,
    "dependency-duplicate": Severity.WARNING,
    "dependency-cycle": Severity.ERROR,
    "blocked-by-cycle": Severity.WARNING,
    "line-range-reversed": Severity.ERROR,
    "line-range-overlap": Severity.WARNING,
    "rice-score-mismatch": Severity.ERROR,
    "ignored-file": Severity.WARNING,
    "task-missing": Severity.ERROR,
}

CASES: List[Tuple[str, Mutation, Set[Key], Severity]] = [
    ("schema-enum", _set(S03, "/status", "done"), {("schema", S03, "/status")}, Severity.ERROR),
    (
        "schema-type",
        _set(S03, "/parallel", "yes"),
        {("schema", S03, "/parallel")},
        Severity.ERROR,
    ),
    (
        "schema-required",
        _delete(S03, "title"),
        {("schema-required", S03, "")},
        Severity.ERROR,
    ),
    (
        "schema-nested",
        _set(S05, "/contracts/0/type", "rpc"),
        {("schema", S05, "/contracts/0/type")},
        Severity.ERROR,
    ),
    (
        "schema-task",
        _set(T, "/status", "running"),
        {("schema", T, "/status")},
        Severity.ERROR,
    ),
    (
        "unknown-field",
        _set(S03, "/owner", "ana"),
        {("unknown-field", S03, "/owner")},
        Severity.INFO,
    ),
    (
        "unknown-field-escaped",
        _set(T, "/a~b", 1),
        {("unknown-field", T, "/a~0b")},
        Severity.INFO,
    ),
    # maxLength reported once, by the schema, with the length code.
    (
        "too-long-title",
        _set(S03, "/title", "x" * 101),
        {("too-long", S03, "/title")},
        Severity.ERROR,
    ),
    (
        "too-long-summary",
        _both(
            _set(S03, "/status", "completed"),
            _set(S03, "/completed_at", "2026-02-15T10:00:00Z"),
            _set(S03, "/completion_summary", "y" * 201),
            _set(T, "/completed_count", 1),
        ),
        {("too-long", S03, "/completion_summary")},
        Severity.ERROR,
    ),
    (
        "too-long-reason",
        _set(S03, "/context_files/0/reason", "r" * 201),
        {("too-long", S03, "/context_files/0/reason")},
        Severity.ERROR,
    ),
    (
        "too-long-decision",
        _set(S05, "/related_adrs/0/decision", "d" * 201),
        {("too-long", S05, "/related_adrs/0/decision")},
        Severity.ERROR,
    ),
    (
        "too-long-objective",
        _set(T, "/objective", "o" * 201),
        {("too-long", T, "/objective")},
        Severity.ERROR,
    ),
    # task.json has no title field: the code checks the limit (and it is an unknown field).
    (
        "too-long-by-code",
        _set(T, "/title", "t" * 101),
        {("too-long", T, "/title"), ("unknown-field", T, "/title")},
        Severity.ERROR,
    ),
    (
        "dependency-missing",
        _set(S03, "/depends_on", ["02", "99"]),
        {("dependency-missing", S03, "/depends_on/1")},
        Severity.ERROR,
    ),
    (
        "dependency-self",
        _set(S03, "/depends_on", ["03"]),
        {
            ("dependency-self", S03, "/depends_on/0"),
            ("dependency-cycle", S03, "/depends_on/0"),
            # every unfinished task downstream of 03 is blocked by the cycle
            *(("blocked-by-cycle", f"subtask_{n}.json", "/depends_on") for n in BELOW_03),
        },
        Severity.ERROR,
    ),
    (
        "dependency-duplicate",
        _set(S03, "/depends_on", ["02", "02"]),
        {("dependency-duplicate", S03, "/depends_on/1")},
        Severity.WARNING,
    ),
    (
        "dependency-cycle",
        _set("subtask_02.json", "/depends_on", ["01", "07"]),
        {
            # 02 -> 07 -> 03 -> 02: the cycle holds 02, 03, 04, 05 and 07
            ("dependency-cycle", "subtask_02.json", "/depends_on/1"),
            *(("blocked-by-cycle", f"subtask_{n}.json", "/depends_on") for n in BELOW_CYCLE),
        },
        Severity.ERROR,
    ),
    (
        "duplicate-seq",
        _both(_set(S05, "/seq", "03"), _set(S05, "/id", "order-management-mvp-03")),
        {
            ("seq-filename", S05, "/seq"),
            ("duplicate-seq", S05, "/seq"),
            ("duplicate-id", S05, "/id"),
            # the graph holds the first 03 only, so no task has the seq 05 any more
            ("dependency-missing", "subtask_07.json", "/depends_on/2"),
        },
        Severity.ERROR,
    ),
    (
        "duplicate-id",
        _set(S05, "/id", "order-management-mvp-03"),
        {("duplicate-id", S05, "/id"), ("id-mismatch", S05, "/id")},
        Severity.ERROR,
    ),
    (
        "seq-filename",
        _both(
            _set("subtask_12.json", "/seq", "13"), _set("subtask_12.json", "/id", f"{FEATURE}-13")
        ),
        {("seq-filename", "subtask_12.json", "/seq")},
        Severity.ERROR,
    ),
    ("id-mismatch-task", _set(T, "/id", "other"), {("id-mismatch", T, "/id")}, Severity.WARNING),
    (
        "subtask-count",
        _set(T, "/subtask_count", 11),
        {("subtask-count", T, "/subtask_count")},
        Severity.ERROR,
    ),
    (
        "completed-count",
        _set(T, "/completed_count", 2),
        {("completed-count", T, "/completed_count")},
        Severity.ERROR,
    ),
    (
        "completed-without-timestamp",
        _both(_set("subtask_01.json", "/status", "completed"), _set(T, "/completed_count", 1)),
        {("status-timestamp", "subtask_01.json", "/completed_at")},
        Severity.ERROR,
    ),
    (
        "completed-with-null-timestamp",
        _both(
            _set("subtask_01.json", "/status", "completed"),
            _set("subtask_01.json", "/completed_at", None),
            _set(T, "/completed_count", 1),
        ),
        {("status-timestamp", "subtask_01.json", "/completed_at")},
        Severity.ERROR,
    ),
    (
        "in-progress-without-start",
        _set("subtask_01.json", "/status", "in_progress"),
        {("status-timestamp", "subtask_01.json", "/started_at")},
        Severity.ERROR,
    ),
    (
        "task-completed-without-timestamp",
        _set(T, "/status", "completed"),
        {("status-timestamp", T, "/completed_at")},
        Severity.ERROR,
    ),
    (
        "acceptance-criteria-empty",
        _set(S03, "/acceptance_criteria", []),
        {("acceptance-criteria-empty", S03, "/acceptance_criteria")},
        Severity.WARNING,
    ),
    (
        "deliverables-empty",
        _set(S03, "/deliverables", []),
        {("deliverables-empty", S03, "/deliverables")},
        Severity.WARNING,
    ),
    (
        "line-range-reversed",
        _set(S03, "/context_files/1/lines", "72-53"),
        {("line-range-reversed", S03, "/context_files/1/lines")},
        Severity.ERROR,
    ),
    (
        "line-range-characters",
        _set(S03, "/context_files/0/lines", "1-x"),
        {("line-range-characters", S03, "/context_files/0/lines")},
        Severity.ERROR,
    ),
    (
        "line-range-overlap",
        _set(S03, "/context_files/0/lines", "10-20,20-30"),
        {("line-range-overlap", S03, "/context_files/0/lines")},
        Severity.WARNING,
    ),
    (
        "line-range-in-reference-files",
        _set(S03, "/reference_files", [{"path": "src/a.ts", "lines": "5,,6"}]),
        {("line-range-double-comma", S03, "/reference_files/0/lines")},
        Severity.ERROR,
    ),
    (
        "line-range-in-task",
        _set(T, "/context_files/0", {"path": "x.md", "lines": "0-3"}),
        {("line-range-below-one", T, "/context_files/0/lines")},
        Severity.ERROR,
    ),
    (
        "rice-score-mismatch",
        _set(T, "/rice_score/score", 100000),
        {("rice-score-mismatch", T, "/rice_score/score")},
        Severity.ERROR,
    ),
    (
        "rice-range",
        _set(T, "/rice_score/impact", 5),
        {("rice-impact", T, "/rice_score/impact")},
        Severity.ERROR,
    ),
    # A type problem of a score block is reported once, by the score check.
    (
        "rice-type",
        _set(T, "/rice_score/reach", "many"),
        {("rice-type", T, "/rice_score/reach")},
        Severity.ERROR,
    ),
    (
        "wsjf-mismatch",
        _set(T, "/wsjf_score/score", 6.0),
        {("wsjf-score-mismatch", T, "/wsjf_score/score")},
        Severity.ERROR,
    ),
    (
        "rice-in-subtask",
        _set(S03, "/rice_score", {"reach": 0, "impact": 1, "confidence": 50, "effort": 1}),
        {("rice-reach", S03, "/rice_score/reach"), ("unknown-field", S03, "/rice_score")},
        Severity.ERROR,
    ),
    (
        "verification-parent",
        _set(S03, "/verification", [{"type": "file_exists", "path": "../x"}]),
        {("verification-path", S03, "/verification/0/path")},
        Severity.ERROR,
    ),
    (
        "verification-absolute",
        _set(
            S03,
            "/verification",
            [
                {"type": "command", "command": "true"},
                {"type": "file_contains", "path": "/etc/x", "expect_contains": "a"},
            ],
        ),
        {("verification-path", S03, "/verification/1/path")},
        Severity.ERROR,
    ),
    (
        "verification-escapes-through-folder",
        _set(S03, "/verification", [{"type": "file_exists", "path": "a/../../x"}]),
        {("verification-path", S03, "/verification/0/path")},
        Severity.ERROR,
    ),
    (
        "verification-fine",
        _set(
            S03,
            "/verification",
            [
                {"type": "file_exists", "path": "a..b.txt"},
                {"type": "file_exists", "path": "docs/../README.md"},
                {"type": "file_exists", "path": "./src/..x/y"},
            ],
        ),
        set(),
        Severity.ERROR,
    ),
    (
        "verification-shape",
        _set(S03, "/verification", [{"type": "command"}]),
        {("schema-required", S03, "/verification/0")},
        Severity.ERROR,
    ),
    (
        "verification-closed-shape",
        _set(S03, "/verification", [{"type": "file_exists", "path": "a", "command": "x"}]),
        {("schema", S03, "/verification/0")},
        Severity.ERROR,
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected", "severity"),
    [pytest.param(m, e, s, id=name) for name, m, e, s in CASES],
)
def test_each_fault_is_reported_with_its_code_path_and_pointer(
    tmp_path: Path, mutate: Mutation, expected: Set[Key], severity: Severity
) -> None:
    folder = seed_project(tmp_path)
    docs = load_docs(folder)
    mutate(docs)
    write_docs(folder, docs)
    found = validate_feature(tmp_path, FEATURE)
    assert keys(found) == expected
    assert len(found) == len(expected)  # each problem reported once
    for f in found:
        assert f.message
        assert f.severity is SEVERITY.get(f.code, f.severity)
        if f.severity is not Severity.INFO:
            assert f.recommendation
    # The injected fault is reported with the case's severity.
    if expected:
        assert severity in {f.severity for f in found}


def test_wsjf_out_of_range_is_reported(tmp_path: Path) -> None:
    folder = seed_project(tmp_path)
    docs = load_docs(folder)
    task(docs)["wsjf_score"]["job_size"] = 11
    del task(docs)["wsjf_score"]["score"]
    write_docs(folder, docs)
    assert keys(validate_feature(tmp_path, FEATURE)) == {("wsjf-range", T, "/wsjf_score/job_size")}


def test_missing_task_json_is_an_error_and_subtasks_are_still_checked(tmp_path: Path) -> None:
    folder = seed_project(tmp_path)
    (folder / "task.json").unlink()
    docs = load_docs(folder)
    sub(docs, "04")["status"] = "in_progress"
    write_docs(folder, docs)
    found = validate_feature(tmp_path, FEATURE)
    assert keys(found) == {
        ("task-missing", T, ""),
        ("status-timestamp", "subtask_04.json", "/started_at"),
    }


BAD_BYTES = [
    ("truncated", b'{"id": "order-management-mvp-03", "seq": "0', "json-truncated"),
    ("truncated-in-character", '{"title": "caf\u00e9'.encode()[:-1], "json-truncated"),
    ("not-utf8", b'{"title": "caf\xe9"}', "json-encoding"),
    ("empty", b"", "json-empty"),
    ("blank", b"  \n", "json-empty"),
    ("malformed", b'{"id": }', "json-invalid"),
    ("utf16", '{"id": "x"}'.encode("utf-16"), "json-encoding"),
    ("array", b"[1, 2]", "json-not-object"),
    ("string", b'"text"', "json-not-object"),
    ("null", b"null", "json-not-object"),
    ("deep", b"[" * 100000 + b"]" * 100000, "json-invalid"),
]


@pytest.mark.parametrize(("data", "code"), [pytest.param(d, c, id=n) for n, d, c in BAD_BYTES])
def test_a_bad_file_is_one_finding_and_the_rest_is_validated(
    tmp_path: Path, data: bytes, code: str
) -> None:
    folder = seed_project(tmp_path)
    (folder / S03).write_bytes(data)
    docs = load_docs_except(folder, S03)
    sub(docs, "05")["status"] = "in_progress"
    write_docs(folder, docs)
    found = validate_feature(tmp_path, FEATURE)
    # Subtask 07 depends on 03: it is not reported as a missing dependency, and the
    # completed count is not judged while a subtask cannot be read.
    assert keys(found) == {(code, S03, ""), ("status-timestamp", S05, "/started_at")}


def load_docs_except(folder: Path, *skip: str) -> Docs:
    return {
        p.name: json.loads(p.read_text("utf-8"))
        for p in sorted(folder.glob("*.json"))
        if p.name not in skip
    }


def test_unreadable_files_and_bad_task_json(tmp_path: Path) -> None:
    folder = seed_project(tmp_path)
    (folder / "subtask_13.json").mkdir()  # looks like a subtask, cannot be read as one
    (folder / "task.json").write_bytes(b'{"id": "order-management-mvp", ')
    found = validate_feature(tmp_path, FEATURE)
    assert keys(found) == {
        ("file-unreadable", "subtask_13.json", ""),
        ("json-truncated", T, ""),
    }


def test_one_bad_feature_never_stops_the_others(tmp_path: Path) -> None:
    bad = seed_project(tmp_path)
    good_rel = ".tmp/tasks/zz-good"
    good = seed_project(tmp_path, good_rel)
    docs = load_docs(good)
    task(docs)["id"] = "zz-good"
    for name, doc in docs.items():
        if name != T:
            doc["id"] = f"zz-good-{doc['seq']}"
    write_docs(good, docs)
    (bad / "subtask_02.json").write_bytes(b'{"id": "order-management-mvp-02", "title": "Bui')
    (bad / "subtask_04.json").write_bytes(b'{"title": "\xff\xfe"}')
    docs = load_docs_except(bad, "subtask_02.json", "subtask_04.json")
    sub(docs, "06")["extra"] = True  # still validated after the bad files
    write_docs(bad, docs)

    results = validate_all(tmp_path)
    assert list(results) == [FEATURE, "zz-good"]
    assert results["zz-good"] == ()
    assert keys(results[FEATURE]) == {
        ("json-truncated", "subtask_02.json", ""),
        ("json-encoding", "subtask_04.json", ""),
        ("unknown-field", "subtask_06.json", "/extra"),
    }
    messages = {f.code: f.message for f in results[FEATURE]}
    assert "truncated" in messages["json-truncated"]
    assert "UTF-8" in messages["json-encoding"]


def test_ignored_files_are_warnings_naming_the_file(tmp_path: Path) -> None:
    folder = seed_project(tmp_path)
    data = (folder / "subtask_01.json").read_bytes()
    for name in ("subtask_3.json", "subtask_01.json.bak", "Subtask_01.json", "subtask_ab.json"):
        (folder / name).write_bytes(data)
    (folder / "notes.md").write_text("not a subtask")
    (folder / "contexts.json").write_text("{}")
    found = validate_feature(tmp_path, FEATURE)
    assert keys(found) == {
        ("ignored-file", "subtask_3.json", ""),
        ("ignored-file", "subtask_01.json.bak", ""),
        ("ignored-file", "Subtask_01.json", ""),
        ("ignored-file", "subtask_ab.json", ""),
    }
    assert all(f.severity is Severity.WARNING for f in found)
    assert all(f.path is not None and f.path.split("/")[-1] in f.message for f in found)


def test_long_seqs_are_subtasks(tmp_path: Path) -> None:
    folder = seed_project(tmp_path)
    docs = load_docs(folder)
    extra = dict(sub(docs, "12"), seq="117", id=f"{FEATURE}-117", depends_on=["12"])
    (folder / "subtask_117.json").write_text(json.dumps(extra))
    task(docs)["subtask_count"] = 13
    write_docs(folder, docs)
    assert validate_feature(tmp_path, FEATURE) == ()


def test_legacy_layouts_are_found(tmp_path: Path) -> None:
    active = ".tmp/tasks/active/" + FEATURE
    seed_project(tmp_path, active)
    done = seed_project(tmp_path, ".tmp/tasks/completed/old-one")
    docs = load_docs(done)
    task(docs)["id"] = "old-one"
    task(docs)["status"] = "bogus"
    for name, doc in docs.items():
        if name != T:
            doc["id"] = f"old-one-{doc['seq']}"
    write_docs(done, docs)

    assert list_features(tmp_path) == {
        FEATURE: (active,),
        "old-one": (".tmp/tasks/completed/old-one",),
    }
    assert feature_dir(tmp_path, FEATURE) == active
    assert validate_feature(tmp_path, FEATURE) == ()
    results = validate_all(tmp_path)
    assert set(results) == {FEATURE, "old-one"}  # neither "active" nor "completed"
    assert results[FEATURE] == ()
    assert keys(results["old-one"], ".tmp/tasks/completed/old-one") == {("schema", T, "/status")}


def test_a_feature_in_two_layouts_is_a_warning(tmp_path: Path) -> None:
    seed_project(tmp_path)
    seed_project(tmp_path, ".tmp/tasks/completed/" + FEATURE)
    found = validate_feature(tmp_path, FEATURE)
    assert [(f.code, f.path) for f in found] == [
        ("feature-ambiguous", ".tmp/tasks/completed/" + FEATURE)
    ]
    assert validate_all(tmp_path)[FEATURE] == found


def test_bad_folder_names_are_reported_not_validated(tmp_path: Path) -> None:
    seed_project(tmp_path)
    (tmp_path / ".tmp/tasks/Bad Name").mkdir()
    (tmp_path / ".tmp/tasks/README.md").write_text("a file, not a feature")
    results = validate_all(tmp_path)
    assert results[FEATURE] == ()
    assert [(f.code, f.path) for f in results["Bad Name"]] == [
        ("feature-name", ".tmp/tasks/Bad Name")
    ]
    assert list(list_features(tmp_path)) == [FEATURE]


def test_validators_are_compiled_once(tmp_path: Path) -> None:
    folder = seed_project(tmp_path)
    validate_feature(tmp_path, FEATURE)
    before = schema_module.validator.cache_info()
    compiled = _schema("subtask")
    docs = load_docs(folder)
    for doc in docs.values():
        doc["status"] = 7  # every file goes through jsonschema
    write_docs(folder, docs)
    found = validate_feature(tmp_path, FEATURE)
    assert sum(f.code == "schema" for f in found) == 13
    assert schema_module.validator.cache_info().misses == before.misses
    assert _schema("subtask") is compiled


def test_codes_are_documented() -> None:
    import stageflow.validation as module

    assert module.__doc__ is not None
    for code in VALIDATION_CODES:
        assert f"``{code}``" in module.__doc__


# -- generated features -----------------------------------------------------------------------

FAULTS = (
    "dependency-missing",
    "dependency-cycle",
    "duplicate-seq",
    "schema",
    "line-range",
    "rice-score-mismatch",
    "seq-filename",
    "status-timestamp",
    "deliverables-empty",
    "verification-path",
    "subtask-count",
)


@st.composite
def features(draw: st.DrawFn) -> Tuple[Docs, str]:
    n = draw(st.integers(1, 6))
    width = draw(st.sampled_from([2, 3]))
    seqs = [str(i).zfill(width) for i in range(1, n + 1)]
    docs: Docs = {}
    completed = 0
    for number, seq in enumerate(seqs):
        status = draw(st.sampled_from(["pending", "in_progress", "completed", "blocked"]))
        doc: Dict[str, Any] = {
            "id": f"gen-{seq}",
            "seq": seq,
            "title": draw(st.text(min_size=1, max_size=100)),
            "status": status,
            "depends_on": draw(st.lists(st.sampled_from(seqs[:number]), unique=True))
            if number
            else [],
            "acceptance_criteria": ["works"],
            "deliverables": ["src/x.py"],
            "context_files": [
                {"path": "docs/a.md", "lines": draw(st.sampled_from(["", "1-5", "3", "1-2,4-9"]))}
            ],
        }
        if status in ("in_progress", "completed"):
            doc["started_at"] = "2026-01-01T00:00:00Z"
        if status == "completed":
            doc["completed_at"] = "2026-01-02T00:00:00Z"
            doc["completion_summary"] = "done"
            completed += 1
        docs[f"subtask_{seq}.json"] = doc
    docs[T] = {
        "id": "gen",
        "name": "Generated",
        "status": "active",
        "objective": "Test",
        "created_at": "2026-01-01T00:00:00Z",
        "subtask_count": n,
        "completed_count": completed,
        "rice_score": {"reach": 10, "impact": 1, "confidence": 50, "effort": 1, "score": 5},
    }
    fault = draw(st.sampled_from(FAULTS))
    if n < 2 and fault in ("dependency-cycle", "duplicate-seq"):
        fault = "dependency-missing"
    return docs, fault


def inject(docs: Docs, fault: str) -> None:
    subs = sorted(name for name in docs if name != T)
    first = docs[subs[0]]
    if fault == "dependency-missing":
        first["depends_on"] = ["999"]
    elif fault == "dependency-cycle":
        second = docs[subs[1]]
        first["depends_on"] = [second["seq"]]
        second["depends_on"] = [first["seq"]]
    elif fault == "duplicate-seq":
        docs[subs[1]]["seq"] = first["seq"]
    elif fault == "schema":
        first["status"] = "done"
    elif fault == "line-range":
        first["context_files"][0]["lines"] = "9-2"
    elif fault == "rice-score-mismatch":
        docs[T]["rice_score"]["score"] = 6
    elif fault == "seq-filename":
        first["seq"] = "0" + first["seq"]
    elif fault == "status-timestamp":
        first["status"] = "in_progress"
        first.pop("started_at", None)
        docs[T]["completed_count"] = sum(
            d.get("status") == "completed" for n, d in docs.items() if n != T
        )
    elif fault == "deliverables-empty":
        first["deliverables"] = []
    elif fault == "verification-path":
        first["verification"] = [{"type": "file_exists", "path": "../../etc/passwd"}]
    elif fault == "subtask-count":
        docs[T]["subtask_count"] += 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(features())
def test_generated_features(case: Tuple[Docs, str]) -> None:
    docs, fault = case
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp, ".tmp/tasks/gen")
        folder.mkdir(parents=True)
        write_docs(folder, docs)
        assert validate_feature(tmp, "gen") == ()
        inject(docs, fault)
        for path in folder.iterdir():
            os.remove(path)
        write_docs(folder, docs)
        codes = {f.code for f in validate_feature(tmp, "gen")}
        if fault == "line-range":
            assert "line-range-reversed" in codes
        else:
            assert fault in codes, (fault, codes)


def test_deeply_nested_values_are_findings_not_crashes(tmp_path: Path) -> None:
    folder = seed_project(tmp_path)
    deep = "[" * 900 + "]" * 900
    text = (folder / S03).read_text("utf-8")
    (folder / S03).write_text(text.replace('"depends_on": [', f'"depends_on": [{deep}, ', 1))
    found = validate_feature(tmp_path, FEATURE)
    assert {f.code for f in found} <= {"schema", "json-invalid"}
    assert found
    assert all(f.path == f"{REL}/{S03}" for f in found)


def test_jsonschema_only_sees_the_documents_the_precheck_does_not_accept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = seed_project(tmp_path)
    seen: List[Any] = []

    class Spy:
        def __init__(self, real: Any) -> None:
            self.real = real

        def iter_errors(self, document: Any) -> Any:
            seen.append(document)
            return self.real.iter_errors(document)

    for name in ("task", "subtask"):
        compiled = _schema(name)
        monkeypatch.setattr(compiled, "validator", Spy(compiled.validator))
    assert validate_feature(tmp_path, FEATURE) == ()
    assert seen == []
    docs = load_docs(folder)
    sub(docs, "03")["status"] = "done"
    write_docs(folder, docs)
    assert keys(validate_feature(tmp_path, FEATURE)) == {("schema", S03, "/status")}
    assert [doc["seq"] for doc in seen] == ["03"]


def test_a_schema_the_precheck_cannot_compile_goes_to_jsonschema() -> None:
    from stageflow.validation import _precheck

    check = _precheck({"type": "object", "patternProperties": {"^x": {"type": "string"}}})
    assert check({}) is False  # unsure, every time


def test_the_public_names_stay_importable_from_stageflow_validation() -> None:
    # Other modules (the task store) import the layout names from here.
    import re

    import stageflow.validation as module
    from stageflow import _taskfiles

    assert sorted(module.__all__) == [
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
    for name in module.__all__:
        assert getattr(module, name) is not None
    assert module.TASKS_DIR == ".tmp/tasks"
    assert module.LEGACY_LAYOUTS == ("active", "completed")
    assert isinstance(module.SUBTASK_FILE, re.Pattern)
    assert module.SUBTASK_FILE.match("subtask_01.json").group(1) == "01"  # type: ignore[union-attr]
    assert module.feature_dir is _taskfiles.feature_dir
    assert module.list_features is _taskfiles.list_features


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_dependency_findings_are_check_graphs_whatever_the_shape(data: st.DataObject) -> None:
    # validate_feature skips check_graph when every dependency names an earlier task once;
    # whatever the dependencies, its findings must be exactly check_graph's.
    from stageflow.graph import TaskGraph, TaskNode, check_graph

    n = data.draw(st.integers(1, 7))
    seqs = [f"{i:02d}" for i in range(1, n + 1)]
    deps = {
        seq: data.draw(st.lists(st.sampled_from([*seqs, "99"]), max_size=3), label=seq)
        for seq in seqs
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp, ".tmp/tasks/gen")
        folder.mkdir(parents=True)
        docs: Docs = {
            T: {
                "id": "gen",
                "name": "Generated",
                "status": "active",
                "objective": "Test",
                "created_at": "2026-01-01T00:00:00Z",
            }
        }
        for seq in seqs:
            docs[f"subtask_{seq}.json"] = {
                "id": f"gen-{seq}",
                "seq": seq,
                "title": "t",
                "status": "pending",
                "depends_on": deps[seq],
            }
        write_docs(folder, docs)
        rel = ".tmp/tasks/gen"
        paths = {seq: f"{rel}/subtask_{seq}.json" for seq in seqs}
        expected = check_graph(
            TaskGraph([TaskNode(seq, "pending", deps[seq]) for seq in seqs]), paths=paths
        )
        found = validate_feature(tmp, "gen")
    assert found == expected


# -- a feature of any task store ------------------------------------------------------------


def test_a_stored_feature_validates_as_its_folder_does(tmp_path: Path) -> None:
    from stageflow.storage.taskfiles import FileTaskStore
    from stageflow.storage.taskmemory import MemoryTaskStore
    from stageflow.validation import validate_store, validate_stored

    folder = tmp_path / ".tmp" / "tasks" / FEATURE
    shutil.copytree(SEED, folder)
    for seq, change in (("03", {"status": "done"}), ("05", {"id": "x-05"}), ("07", {"seq": "7"})):
        path = folder / f"subtask_{seq}.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    files = FileTaskStore(tmp_path)
    expected = validate_feature(tmp_path, FEATURE)
    assert {f.code for f in expected} >= {"schema", "id-mismatch", "seq-filename"}
    assert validate_stored(files.load(FEATURE)) == expected
    assert validate_store(files, FEATURE) == {FEATURE: expected}
    assert validate_store(files) == validate_all(tmp_path)

    memory = MemoryTaskStore()
    stored = files.load(FEATURE)
    docs = {f.seq: f.document for f in stored.subtasks if f.seq != "07"}
    memory.create(FEATURE, stored.task.document or {}, docs)  # type: ignore[arg-type]
    in_memory = validate_stored(memory.load(FEATURE))
    moved = {
        (f.code, f.severity, f.path.replace(f"memory:{FEATURE}", REL), f.pointer) for f in in_memory
    }
    without_07 = {
        (f.code, f.severity, f.path, f.pointer) for f in expected if "subtask_07" not in f.path
    }
    # 07 is missing in memory: task.json's counts now disagree, nothing else changes
    assert moved - without_07 == {
        ("subtask-count", Severity.ERROR, f"{REL}/task.json", "/subtask_count")
    }
    assert without_07 <= moved
    assert validate_store(memory) == {FEATURE: in_memory}


def test_a_stored_file_with_a_problem_gets_the_finding_of_its_file(tmp_path: Path) -> None:
    from stageflow.storage.taskfiles import FileTaskStore
    from stageflow.validation import validate_stored

    folder = tmp_path / ".tmp" / "tasks" / FEATURE
    shutil.copytree(SEED, folder)
    (folder / "subtask_02.json").write_bytes(b'{"seq": ')
    (folder / "subtask_04.json").write_bytes(b"[]")
    (folder / "subtask_06.json").write_bytes(b"")
    (folder / "task.json").unlink()
    expected = validate_feature(tmp_path, FEATURE)
    assert validate_stored(FileTaskStore(tmp_path).load(FEATURE)) == expected
    assert {f.code for f in expected} >= {"json-truncated", "json-not-object", "json-empty"}

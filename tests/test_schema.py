"""The published JSON Schemas, the fast schema checker, run documents and their serde."""

from __future__ import annotations

import contextlib
import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stageflow import (
    EIGHT_STAGE,
    Finding,
    Output,
    Refused,
    Registry,
    RunState,
    Severity,
    StageSpec,
    StateFileError,
    WorkflowSpec,
    run_from_document,
    run_to_document,
)
from stageflow._minischema import MiniSchema
from stageflow._resources import SCHEMA_NAMES, load_schema, read_schema_text
from stageflow._rundoc import check_run_document, parse_json_bytes
from stageflow.demo import write_outputs
from stageflow.examples import ORDER_MANAGEMENT
from stageflow.serde import format_timestamp, parse_timestamp
from stageflow.testing import FakeClock, make_orchestrator

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
SCHEMA_FILES = sorted(SCHEMA_DIR.glob("*.schema.json"))
RUN_SCHEMA = load_schema("run")
JSONSCHEMA = jsonschema.Draft202012Validator(RUN_SCHEMA)
MINI = MiniSchema(RUN_SCHEMA)
LOCATION = ".tmp/sessions/2026-01-01-feat/stage-tracking.json"


# -- the schema files -------------------------------------------------------------------------


def test_there_is_at_least_the_run_schema() -> None:
    assert SCHEMA_DIR / "run.schema.json" in SCHEMA_FILES


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: p.name)
def test_every_schema_is_a_valid_draft_2020_12_schema_with_an_id(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert isinstance(schema.get("$id"), str)
    assert schema["$id"].endswith(path.name)


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: p.name)
def test_every_schema_is_reachable_through_resources(path: Path) -> None:
    name = path.name[: -len(".schema.json")]
    assert name in SCHEMA_NAMES
    assert read_schema_text(name) == path.read_text(encoding="utf-8")
    assert load_schema(name) == json.loads(path.read_text(encoding="utf-8"))
    assert load_schema(name) is load_schema(name)


def test_every_shipped_schema_name_has_a_file() -> None:
    assert sorted(SCHEMA_NAMES) == sorted(p.name[: -len(".schema.json")] for p in SCHEMA_FILES)


def test_minischema_refuses_keywords_it_does_not_implement() -> None:
    with pytest.raises(ValueError, match="oneOf"):
        MiniSchema({"type": "object", "properties": {"x": {"oneOf": [{"type": "string"}]}}})
    with pytest.raises(ValueError, match="patternProperties"):
        MiniSchema({"$defs": {"t": {"type": "object", "patternProperties": {}}}})
    with pytest.raises(ValueError, match="maximum"):
        MiniSchema({"anyOf": [{"type": "number", "maximum": 3}]})
    with pytest.raises(ValueError, match="uniqueItems"):
        MiniSchema({"if": {"uniqueItems": True}, "then": {}})


def test_format_is_an_annotation_for_both_checkers() -> None:
    # Draft 2020-12 asserts no format by default, and stageflow.schema's validators are
    # built without a format checker: a date-time that is not one is valid for both.
    from stageflow.schema import validator

    schema = {"$defs": {"t": {"type": "string", "format": "date-time"}}, "$ref": "#/$defs/t"}
    assert MiniSchema(schema).is_valid("yesterday")
    assert jsonschema.Draft202012Validator(schema).is_valid("yesterday")
    assert validator("task").format_checker is None
    assert validator("subtask").format_checker is None


@pytest.mark.parametrize("name", ["run", "task", "subtask"])
def test_minischema_compiles_the_schemas_it_checks(name: str) -> None:
    assert MiniSchema(load_schema(name)).is_valid({}) is False


@pytest.mark.parametrize(
    ("schema", "good", "bad"),
    [
        ({"type": "string", "maxLength": 2}, ["", "ab", "\u00e9\u00e9"], ["abc", 5]),
        ({"exclusiveMinimum": 0}, [1, 0.5, "x", True, float("nan")], [0, -1, 0.0]),
        ({"type": "number", "exclusiveMinimum": 0}, [1e-9], [0, True, "1"]),
        (
            {"anyOf": [{"required": ["a"]}, {"required": ["b"]}]},
            [{"a": 1}, {"b": 1}, {"a": 1, "b": 2}, [], "x"],
            [{}, {"c": 1}],
        ),
        (
            {"allOf": [{"type": "integer"}, {"minimum": 2}]},
            [2, 3, 2.0],
            [1, 1.5, "3", True],
        ),
        (
            {"if": {"const": 1}, "then": {"type": "integer"}, "else": {"type": "string"}},
            [1, "x", 1.0],
            [2, None],
        ),
        ({"if": {"type": "string"}, "then": {"minLength": 2}}, ["ab", 1, None], ["a"]),
        ({"if": {"type": "string"}}, ["a", 1], []),
        ({"then": {"type": "string"}}, ["a", 1], []),
        ({"type": ["string", "null"], "maxLength": 1}, [None, "a"], ["ab", 1, []]),
        (
            {"type": ["string", "object"], "minLength": 1, "required": ["p"]},
            ["a", {"p": 1}],
            ["", {}, 1, None, []],
        ),
        ({"enum": ["a", "b"]}, ["a", "b"], ["c", None, 1, True, ["a"], {"a": 1}]),
        ({"enum": ["a", None]}, ["a", None], ["b", False, 0]),
        ({"type": "boolean"}, [True, False], [0, 1, None, "true"]),
        (
            {"type": "array", "items": {"type": "string", "pattern": "^a", "minLength": 2}},
            [[], ["ab"], ["ab", "abc"]],
            [["a"], ["ba"], [1], "ab"],
        ),
        (
            {"type": "object", "properties": {"k": {"enum": ["x"]}, "b": {"type": "boolean"}}},
            [{}, {"k": "x"}, {"b": False, "other": 1}],
            [{"k": "y"}, {"b": 0}, {"k": None}, []],
        ),
    ],
)
def test_minischema_keywords_agree_with_jsonschema(
    schema: Dict[str, Any], good: List[Any], bad: List[Any]
) -> None:
    mini = MiniSchema(schema)
    reference = jsonschema.Draft202012Validator(schema)
    for value in good:
        assert reference.is_valid(value), value
        assert mini.is_valid(value), value
        assert mini.errors(value) == [], value
    for value in bad:
        assert not reference.is_valid(value), value
        assert not mini.is_valid(value), value
        assert mini.errors(value), value


def test_a_string_subclass_is_checked_in_full() -> None:
    # The inline tests of leaves compare exact types; anything else takes the full check.
    class Text(str):
        pass

    mini = MiniSchema({"type": "object", "properties": {"a": {"type": "string", "maxLength": 1}}})
    assert mini.is_valid({"a": Text("x")})
    assert not mini.is_valid({"a": Text("xy")})


# -- documents from real runs -------------------------------------------------------------------


ONE = WorkflowSpec("solo", [StageSpec("only", "Only")])
MINI_FLOW = WorkflowSpec(
    "mini",
    [
        StageSpec("draft", "Draft", outputs=[Output("notes", "notes/{feature}.md")]),
        StageSpec("review", "Review", prerequisites="draft"),
    ],
)


def _produce(root: Path, stage: str, feature: str) -> None:
    write_outputs(root, stage, feature)  # artifacts that pass the stage's content gate


def _attempt(action: Any) -> None:
    with contextlib.suppress(Refused):
        action()


def _real_documents(root: Path) -> List[Dict[str, Any]]:
    registry = Registry()
    registry.add_compensation("release", lambda ctx: None)
    registry.add_gate(
        "stories",
        lambda ctx: [Finding("style", "minor", severity=Severity.WARNING, pointer="/x")],
        kind="entry",
    )
    clock = FakeClock(tick=timedelta(seconds=1, microseconds=250))
    flow = make_orchestrator(
        root, registry=registry, clock=clock, workflows=[EIGHT_STAGE, ONE, MINI_FLOW]
    )
    feature = "full"
    flow.init(feature)
    _attempt(lambda: flow.complete(feature, 1))
    _attempt(lambda: flow.complete(feature, 3))
    _produce(root, "architecture", feature)
    flow.complete(feature, 1, outputs=["README.md"])
    flow.complete(feature, 2, override=True, reason="stories agreed in a meeting")
    _attempt(lambda: flow.complete(feature, 3, override=True))
    _produce(root, "stories", feature)  # the backlog's gate reads the story map
    for key in EIGHT_STAGE.keys[2:]:
        _produce(root, key, feature)
        flow.complete(feature, key)
    flow.rollback(feature, "execution", reason="incident")
    _attempt(lambda: flow.rollback(feature, "release", reason="forward"))
    for key in EIGHT_STAGE.keys[5:]:
        _produce(root, key, feature)
        flow.complete(feature, key)

    flow.init("stopped")
    _produce(root, "architecture", "stopped")
    flow.complete("stopped", 1)
    flow.fail("stopped", 2, reason="blocked by legal")
    _attempt(lambda: flow.init("stopped"))
    flow.abort("stopped", reason="dropped")
    _attempt(lambda: flow.resume("stopped", 3))
    flow.init("stopped")

    flow.init("tiny", workflow="solo")
    flow.complete("tiny", 1)

    flow.init("small", workflow="mini")
    _attempt(lambda: flow.complete("small", "draft"))
    _attempt(lambda: flow.complete("small", "review"))
    flow.complete("small", "draft", override=True, reason="notes come later")
    (root / "notes").mkdir()
    (root / "notes" / "small.md").write_text("notes\n")
    flow.rollback("small", "draft", reason="write the notes")  # archives the notes
    (root / "notes" / "small.md").write_text("better notes\n")
    flow.complete("small", "draft", outputs=["notes/small.md"])
    flow.fail("small", "review", reason="reviewer away")
    flow.abort("small", reason="paused")

    documents = []
    for name in flow.features():
        for number in flow.runs(name):
            documents.append(flow.store.load(name, number).document)
    return documents


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> List[Dict[str, Any]]:
    return _real_documents(tmp_path_factory.mktemp("runs"))


def test_real_documents_cover_every_kind_of_content(documents: List[Dict[str, Any]]) -> None:
    assert len(documents) == 5
    text = json.dumps(documents)
    assert json.dumps(_small(documents)).count('"override": {') >= 1
    assert '"archive": ".tmp/archive' in json.dumps(_small(documents))
    for fragment in ('"override": {', '"archive": ".tmp/archive', '"severity": "warning"', ".000"):
        assert fragment in text
    for outcome in ("applied", "refused", "failed"):
        assert f'"outcome": "{outcome}"' in text
    for status in ("active", "completed", "aborted"):
        assert f'"status": "{status}"' in text


def test_real_documents_are_valid_for_both_checkers(documents: List[Dict[str, Any]]) -> None:
    for document in documents:
        JSONSCHEMA.validate(document)
        assert MINI.errors(document) == []
        assert check_run_document(document, LOCATION) is document


def test_serde_round_trip_is_lossless(documents: List[Dict[str, Any]]) -> None:
    for document in documents:
        run = run_from_document(document, LOCATION)
        assert isinstance(run, RunState)
        again = run_to_document(run)
        assert again == document
        assert json.loads(json.dumps(again)) == document
        assert run_from_document(json.loads(json.dumps(again)), LOCATION) == run
        JSONSCHEMA.validate(again)


# -- differential test: MiniSchema agrees with jsonschema ----------------------------------------


Path_ = Tuple[Any, ...]


def _paths(node: Any, here: Path_ = ()) -> Iterator[Path_]:
    yield here
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*here, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*here, index))


def _get(node: Any, path: Path_) -> Any:
    for part in path:
        node = node[part]
    return node


BAD_TIMESTAMPS = [
    "2026-01-01T00:00:00",
    "2026-01-01 00:00:00Z",
    "2026-01-01T00:00:00.1234567Z",
    "2026-01-01T00:00:00.Z",
    "2026-01-01T00:00:00+00:00",
    "2026-1-01T00:00:00Z",
    "yesterday",
    "2026-01-01T00:00:00.5Z",
    "2026-01-01T00:00:00Z",
]
WORDS = [
    "active",
    "completed",
    "aborted",
    "failed",
    "pending",
    "in_progress",
    "paused",
    "applied",
    "refused",
    "rule",
    "entry",
    "exit",
    "error",
    "warning",
    "info",
    "fatal",
    "init",
    "complete",
    "rollback",
    "explode",
    "architecture",
    "Architecture",
    "a b",
    "-feat",
    "feat",
    "",
]
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-2, max_value=12),
    st.sampled_from([0.0, 1.0, 2.0, 1.5, -0.5, 1e20]),
    st.sampled_from(BAD_TIMESTAMPS + WORDS),
    st.text(max_size=4),
    st.sampled_from([[], {}, [1], ["x"], {"a": 1}, [{}], {"code": "x"}]),
)


def _small(documents: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The documents small enough for many jsonschema validations (the slow side)."""
    return [d for d in documents if len(d["history"]) <= 12]


@st.composite
def mutated_documents(draw: st.DrawFn, documents: List[Dict[str, Any]]) -> Any:
    document: Any = copy.deepcopy(draw(st.sampled_from(documents)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(list(_paths(document))))
        kind = draw(st.sampled_from(["replace", "replace", "delete", "extra", "drop-items"]))
        if not path:
            if kind == "replace":
                document = draw(VALUES)
            continue
        parent = _get(document, path[:-1])
        last = path[-1]
        if kind == "replace":
            parent[last] = draw(VALUES)
        elif kind == "delete":
            del parent[last]
        elif kind == "extra" and isinstance(parent[last], dict):
            parent[last][draw(st.sampled_from(["bogus", "extra", "code"]))] = draw(VALUES)
        elif kind == "drop-items" and isinstance(parent[last], list):
            parent[last] = parent[last][: draw(st.integers(min_value=0, max_value=1))]
    return document


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_minischema_accepts_exactly_what_jsonschema_accepts(
    documents: List[Dict[str, Any]], data: st.DataObject
) -> None:
    document = data.draw(mutated_documents(_small(documents)))
    expected = JSONSCHEMA.is_valid(document)
    problems = MINI.errors(document)
    assert (not problems) == expected, (problems, list(JSONSCHEMA.iter_errors(document))[:3])
    for problem in problems:
        assert problem.startswith("/"), problem


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("version",), True),
        (("version",), "1"),
        (("run",), 0),
        (("run",), 1.5),
        (("status",), "paused"),
        (("created_at",), "2026-01-01T00:00:00"),
        (("stages", 0, "status"), "done"),
        (("stages", 0, "number"), False),
        (("history", 0, "verdicts"), [{"gate": "x"}]),
        (("history", 0, "outcome"), None),
        (("stages",), []),
        (("feature",), "Feat"),
    ],
)
def test_both_checkers_reject_the_same_obvious_mistakes(
    documents: List[Dict[str, Any]], path: Tuple[Any, ...], value: Any
) -> None:
    document = copy.deepcopy(documents[0])
    _get(document, path[:-1])[path[-1]] = value
    assert not JSONSCHEMA.is_valid(document)
    problems = MINI.errors(document)
    assert problems
    pointer = "/" + "/".join(str(p) for p in path)
    assert any(p.startswith(pointer) for p in problems), problems


def test_both_checkers_accept_an_integral_float_and_reject_true_for_an_integer(
    documents: List[Dict[str, Any]],
) -> None:
    document = copy.deepcopy(documents[0])
    document["run"] = 1.0
    assert JSONSCHEMA.is_valid(document)
    assert MINI.errors(document) == []
    document["run"] = True
    assert not JSONSCHEMA.is_valid(document)
    assert MINI.errors(document)


# -- differential test on task files: MiniSchema agrees with stageflow.schema ----------------

SEED = ORDER_MANAGEMENT / "order-management-mvp"
RICH_SUBTASK: Dict[str, Any] = {
    "id": "shop-07",
    "seq": "07",
    "title": "Cart service",
    "status": "completed",
    "depends_on": ["01", "03"],
    "parallel": False,
    "context_files": [
        "docs/a.md",
        {"path": "docs/b.md", "lines": "1-20,45-60", "reason": "Rules", "note": "kept"},
    ],
    "reference_files": [{"path": "src/cart.ts"}],
    "acceptance_criteria": ["adds items"],
    "deliverables": ["src/cart.ts"],
    "agent_id": None,
    "started_at": "2026-02-14T12:00:00Z",
    "completed_at": "2026-02-15T12:00:00Z",
    "completion_summary": "done",
    "blocked_reason": "waiting",
    "blocked_at": "2026-02-14T13:00:00Z",
    "reopen_reason": "flaky",
    "reopened_at": "2026-02-14T14:00:00Z",
    "forced_completion": {
        "reason": "release",
        "at": "2026-02-15T12:00:00Z",
        "unmet_dependencies": [{"seq": "03", "status": None}, {"seq": "01", "status": "pending"}],
    },
    "contracts": [{"type": "api", "name": "CartAPI", "description": "d"}],
    "design_components": [{"type": "figma", "url": "https://x"}, {"path": "d.png"}],
    "related_adrs": [{"id": "ADR-1", "decision": "use carts"}],
    "verification": [
        {"type": "command", "command": "npm test", "expect_exit": 0, "timeout_ms": 1.5},
        {"type": "command", "command": "x", "expect_contains": "ok"},
        {"type": "file_exists", "path": "src/cart.ts"},
        {"type": "file_contains", "path": "src/cart.ts", "expect_contains": "cart"},
    ],
    "owner": "an unknown field",
}
RICH_TASK: Dict[str, Any] = {
    "id": "shop",
    "name": "Shop",
    "status": "completed",
    "objective": "Sell things",
    "created_at": "2026-01-01T00:00:00Z",
    "completed_at": None,
    "context_files": [{"path": "a.md", "lines": "1-5", "reason": "r"}, "b.md"],
    "exit_criteria": ["sold"],
    "subtask_count": 0,
    "completed_count": 0,
    "design_components": [{"url": "https://x", "description": "d"}],
    "related_adrs": [{"id": "ADR-1", "path": "a.md", "title": "t"}],
    "contracts": [{"name": "A", "status": "verified", "path": "p"}],
    "rice_score": {"reach": 1, "impact": 0.25, "confidence": 50, "effort": 0.5},
    "wsjf_score": {"business_value": 1, "time_criticality": 2, "risk_reduction": 3, "job_size": 4},
}
TASK_FILE_DOCUMENTS = {
    "task": [json.loads((SEED / "task.json").read_text("utf-8")), RICH_TASK],
    "subtask": [
        *(json.loads(p.read_text("utf-8")) for p in sorted(SEED.glob("subtask_*.json"))),
        RICH_SUBTASK,
    ],
}
TASK_FILE_VALUES = st.one_of(
    VALUES,
    st.sampled_from(
        [
            "x" * 100,
            "x" * 101,
            "y" * 200,
            "y" * 201,
            "01",
            "7",
            "007",
            "01\n",
            " ",
            "command",
            "file_exists",
            "file_contains",
            "blocked",
            "figma",
            "api",
            "draft",
            "ADR-1",
            -1,
            0,
            -0.5,
            float("nan"),
            {"path": "x"},
            {"path": ""},
            {"type": "command", "command": "ls"},
            {"type": "file_exists", "path": " "},
            {"type": "command"},
            {"url": "u"},
            ["01"],
            [{"path": "p"}],
        ]
    ),
)


@st.composite
def mutated_task_files(draw: st.DrawFn, documents: List[Dict[str, Any]]) -> Any:
    document: Any = copy.deepcopy(draw(st.sampled_from(documents)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(list(_paths(document))))
        kind = draw(st.sampled_from(["replace", "replace", "delete", "extra", "drop-items"]))
        if not path:
            if kind == "replace":
                document = copy.deepcopy(draw(TASK_FILE_VALUES))
            continue
        parent = _get(document, path[:-1])
        last = path[-1]
        if kind == "replace":
            parent[last] = copy.deepcopy(draw(TASK_FILE_VALUES))  # values are shared
        elif kind == "delete":
            del parent[last]
        elif kind == "extra" and isinstance(parent[last], dict):
            key = draw(st.sampled_from(["bogus", "type", "path", "command", "url", "reason"]))
            parent[last][key] = copy.deepcopy(draw(TASK_FILE_VALUES))
        elif kind == "drop-items" and isinstance(parent[last], list):
            parent[last] = parent[last][: draw(st.integers(min_value=0, max_value=1))]
    return document


@pytest.mark.parametrize("name", ["task", "subtask"])
def test_task_file_documents_are_valid_for_both_checkers(name: str) -> None:
    from stageflow.schema import validator

    mini = MiniSchema(load_schema(name))
    for document in TASK_FILE_DOCUMENTS[name]:
        validator(name).validate(document)
        assert mini.is_valid(document)
        assert mini.errors(document) == []


@pytest.mark.parametrize("name", ["task", "subtask"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_minischema_accepts_exactly_what_jsonschema_accepts_for_task_files(
    name: str, data: st.DataObject
) -> None:
    from stageflow.schema import validator

    document = data.draw(mutated_task_files(TASK_FILE_DOCUMENTS[name]))
    expected = validator(name).is_valid(document)
    mini = _task_file_checker(name)
    assert mini.is_valid(document) == expected, list(validator(name).iter_errors(document))[:3]
    problems = mini.errors(document)
    assert (not problems) == expected, problems
    for problem in problems:
        assert problem.startswith("/"), problem


_TASK_FILE_CHECKERS: Dict[str, MiniSchema] = {}


def _task_file_checker(name: str) -> MiniSchema:
    if name not in _TASK_FILE_CHECKERS:
        _TASK_FILE_CHECKERS[name] = MiniSchema(load_schema(name))
    return _TASK_FILE_CHECKERS[name]


# -- serde on random runs ---------------------------------------------------------------------


OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["complete", "override", "gate-fails", "fail", "rollback", "abort"]),
        st.integers(min_value=1, max_value=8),
    ),
    max_size=12,
)


@settings(max_examples=25, deadline=None)
@given(operations=OPERATIONS)
def test_random_runs_round_trip_and_validate(operations: List[Tuple[str, int]]) -> None:
    failing = {"on": False}
    registry = Registry()
    registry.add_gate(
        "architecture",
        lambda ctx: [Finding("flaky", "flaky gate", path="a.txt")] if failing["on"] else [],
    )
    registry.add_compensation("release", lambda ctx: None)
    clock = FakeClock(tick=timedelta(microseconds=123457))
    flow = make_orchestrator(
        "/nonexistent-stageflow-root", registry=registry, clock=clock, default_gates=False
    )
    flow.init("feat")
    for name, stage in operations:
        failing["on"] = name in ("gate-fails", "override")
        with contextlib.suppress(Refused):
            if name in ("complete", "override", "gate-fails"):
                flow.complete("feat", stage, override=name == "override", reason="r")
            elif name == "fail":
                flow.fail("feat", stage, reason="broken")
            elif name == "rollback":
                flow.rollback("feat", stage, reason="redo")
            else:
                flow.abort("feat", reason="stop")
        if name == "abort":
            with contextlib.suppress(Refused):
                flow.resume("feat", stage)
    run = flow.status("feat")
    document = run_to_document(run)
    JSONSCHEMA.validate(document)
    assert MINI.errors(document) == []
    assert run_from_document(json.loads(json.dumps(document)), LOCATION) == run


# -- timestamps -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc), "2026-01-02T03:04:05Z"),
        (datetime(2026, 1, 2, 3, 4, 5, 120, tzinfo=timezone.utc), "2026-01-02T03:04:05.000120Z"),
        (
            datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))),
            "2026-01-02T03:04:05Z",
        ),
    ],
)
def test_timestamps_are_written_in_utc(moment: datetime, text: str) -> None:
    assert format_timestamp(moment) == text
    assert parse_timestamp(text) == moment
    assert parse_timestamp(text).tzinfo is not None


def test_short_fractions_are_read() -> None:
    parsed = parse_timestamp("2026-01-02T03:04:05.5Z")
    assert parsed.microsecond == 500000


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        format_timestamp(datetime(2026, 1, 1))


# -- check_run_document ------------------------------------------------------------------------


@pytest.mark.parametrize("document", [[], "text", 1, None, True])
def test_a_document_that_is_not_an_object(document: Any) -> None:
    with pytest.raises(StateFileError) as caught:
        check_run_document(document, LOCATION)
    assert caught.value.path == LOCATION
    assert "expected a JSON object" in caught.value.problem
    assert str(caught.value).startswith(LOCATION)


def test_a_document_without_version(documents: List[Dict[str, Any]]) -> None:
    document = copy.deepcopy(documents[0])
    del document["version"]
    with pytest.raises(StateFileError) as caught:
        check_run_document(document, LOCATION)
    assert caught.value.path == LOCATION
    assert "no format version" in caught.value.problem
    assert "stage-cli" not in caught.value.problem


def test_a_stage_cli_tracking_file_is_recognised() -> None:
    legacy = {
        "feature": "feat",
        "workflow_status": "active",
        "current_stage": 1,
        "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:00:00.000Z",
        "stages": [{"id": 1, "name": "Architecture Decomposition", "status": "in_progress"}],
        "rollback_history": [],
    }
    with pytest.raises(StateFileError) as caught:
        check_run_document(legacy, LOCATION)
    assert caught.value.path == LOCATION
    assert "stage-cli" in caught.value.problem


@pytest.mark.parametrize("version", [7, 0, 2, "1", True, None, 1.5])
def test_an_unknown_version(documents: List[Dict[str, Any]], version: Any) -> None:
    document = dict(documents[0], version=version)
    with pytest.raises(StateFileError) as caught:
        check_run_document(document, LOCATION)
    assert caught.value.path == LOCATION
    assert "unknown format version" in caught.value.problem
    assert repr(version) in caught.value.problem


def test_a_schema_problem_names_the_file_and_the_pointer(documents: List[Dict[str, Any]]) -> None:
    document = copy.deepcopy(documents[0])
    document["stages"][1]["status"] = "paused"
    with pytest.raises(StateFileError) as caught:
        check_run_document(document, LOCATION)
    assert caught.value.path == LOCATION
    assert "/stages/1/status" in caught.value.problem


def _broken(documents: List[Dict[str, Any]], change: str) -> Dict[str, Any]:
    document = copy.deepcopy(next(d for d in documents if d["status"] == "active"))
    stages = document["stages"]
    if change == "duplicate-key":
        stages[1]["key"] = stages[0]["key"]
    elif change == "numbering":
        stages[2]["number"] = 9
    elif change == "unknown-current":
        document["current_stage"] = "deploy"
    elif change == "null-current":
        document["current_stage"] = None
    elif change == "completed-with-current":
        document["status"] = "completed"
    elif change == "two-in-progress":
        stages[0]["status"] = stages[1]["status"] = "in_progress"
    elif change == "history-start":
        document["history"][0]["operation"] = "complete"
    elif change == "seq":
        document["history"][0]["seq"] = 2
    return document


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ("duplicate-key", "/stages"),
        ("numbering", "/stages/2/number"),
        ("unknown-current", "/current_stage"),
        ("null-current", "/current_stage"),
        ("completed-with-current", "/current_stage"),
        ("two-in-progress", "/stages"),
        ("history-start", "/history/0/operation"),
        ("seq", "/history/0/seq"),
    ],
)
def test_consistency_problems_a_schema_cannot_express(
    documents: List[Dict[str, Any]], change: str, where: str
) -> None:
    document = _broken(documents, change)
    assert JSONSCHEMA.is_valid(document)
    with pytest.raises(StateFileError) as caught:
        check_run_document(document, LOCATION)
    assert caught.value.path == LOCATION
    assert where in caught.value.problem
    with pytest.raises(StateFileError):
        run_from_document(document, LOCATION)


def test_a_completed_run_whose_stages_are_not_all_completed_is_inconsistent(
    documents: List[Dict[str, Any]],
) -> None:
    document = copy.deepcopy(next(d for d in documents if d["status"] == "completed"))
    document["stages"][2]["status"] = "pending"
    assert JSONSCHEMA.is_valid(document)
    with pytest.raises(StateFileError) as caught:
        check_run_document(document, LOCATION)
    assert caught.value.path == LOCATION


def test_an_impossible_date_is_a_state_file_error(documents: List[Dict[str, Any]]) -> None:
    document = copy.deepcopy(documents[0])
    document["created_at"] = "2026-13-45T00:00:00Z"
    with pytest.raises(StateFileError) as caught:
        run_from_document(document, LOCATION)
    assert caught.value.path == LOCATION


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "empty"),
        (b"  \n", "empty"),
        (b'{"version": 1, "feature": "fe', "truncated"),
        (b'{"version": 1, "stages": [', "truncated"),
        (b"not json", "not valid JSON"),
        (b"\xff\xfe{}", "UTF-8"),
        (b"[" * 100000, "JSON"),
    ],
)
def test_bytes_that_are_not_json(data: bytes, problem: str) -> None:
    with pytest.raises(StateFileError) as caught:
        parse_json_bytes(data, LOCATION)
    assert caught.value.path == LOCATION
    assert problem in caught.value.problem


def test_json_bytes_parse() -> None:
    assert parse_json_bytes(b'{"a": [1, 2]}', LOCATION) == {"a": [1, 2]}


def test_the_public_schema_module_compiles_each_schema_once_and_reports_pointers() -> None:
    from stageflow.errors import UsageError
    from stageflow.schema import check_schemas, schema_errors, validator

    check_schemas()
    assert validator("run") is validator("run")
    errors = schema_errors("run", {"version": 1, "feature": "Bad Name"})
    pointers = [pointer for pointer, _ in errors]
    assert "/feature" in pointers
    assert any("required" in message for _, message in errors)
    with pytest.raises(UsageError):
        schema_errors("nope", {})


@pytest.mark.parametrize(
    ("pattern", "texts"),
    [
        ("^[a-z0-9][a-z0-9-]*(?![\\s\\S])", ["a-b", "-a", "a\n", "xa", "", "a b"]),
        ("^a|b", ["a", "b", "cb", "ca"]),
        ("\\S", [" ", " x", ""]),
        ("^(a|b)c", ["ac", "xbc", "bc"]),
    ],
)
def test_patterns_search_as_json_schema_says(pattern: str, texts: List[str]) -> None:
    import re

    mini = MiniSchema({"type": "string", "pattern": pattern})
    for text in texts:
        assert mini.is_valid(text) == bool(re.search(pattern, text)), text

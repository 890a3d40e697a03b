"""The error tree (fields, exit codes, pickling) and the curated public API."""

from __future__ import annotations

import inspect
import json
import pickle
import subprocess
import sys
from datetime import datetime, timezone
from typing import Any, Dict, List

import pytest

import stageflow
from stageflow import errors, lifecycle
from stageflow.config import ConfigError
from stageflow.errors import (
    ConflictError,
    GateFailed,
    InvalidName,
    NotFound,
    ProblemsError,
    Refused,
    RuleViolation,
    StageflowError,
    StateFileError,
    UnknownPhase,
    UnknownStage,
    UsageError,
    WorkflowDefinitionError,
)
from stageflow.findings import Finding, Severity
from stageflow.workflow import EIGHT_STAGE

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
FINDINGS = (
    Finding("output-missing", "no contexts.json", path=".tmp/x.json", recommendation="write it"),
    Finding("style", "a warning", severity=Severity.WARNING),
)
RUN = lifecycle.new_run(EIGHT_STAGE, "feat", 2, T0, "alice")


def _examples() -> List[StageflowError]:
    return [
        StageflowError("root problem"),
        UsageError("bad argument"),
        InvalidName("invalid feature name 'X'"),
        UnknownStage("unknown stage '9'", stage="9", workflow="eight-stage"),
        UnknownPhase("unknown phase '9.9'", phase="9.9", workflow="plan-implement-test-final"),
        NotFound("no run for feature 'x'", "x"),
        StateFileError(".tmp/sessions/2026-01-01-x/stage-tracking.json", "truncated JSON"),
        ConflictError("changed since read", location="memory:x/run-1"),
        WorkflowDefinitionError(["duplicate key 'a'", "bad key 'B'"]),
        ProblemsError(["one", "two"]),
        Refused("refused", operation="complete", feature="x", stage="stories", findings=FINDINGS),
        RuleViolation(
            "complete stage 3 was refused",
            operation="complete",
            feature="feat",
            stage="prioritization",
            findings=FINDINGS[:1],
            run=RUN,
        ),
        GateFailed(
            "complete stage 1 failed its gates",
            operation="complete",
            feature="feat",
            stage="architecture",
            findings=FINDINGS,
            run=RUN,
        ),
    ]


FIELDS = (
    "message",
    "stage",
    "workflow",
    "feature",
    "path",
    "problem",
    "location",
    "problems",
    "operation",
    "findings",
    "run",
)


def _fields(error: BaseException) -> Dict[str, Any]:
    return {name: getattr(error, name) for name in FIELDS if hasattr(error, name)}


@pytest.mark.parametrize("error", _examples(), ids=lambda e: type(e).__name__)
def test_every_error_pickles_with_its_fields(error: StageflowError) -> None:
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        copy = pickle.loads(pickle.dumps(error, protocol=protocol))
        assert type(copy) is type(error)
        assert str(copy) == str(error)
        assert copy.args == error.args
        assert _fields(copy) == _fields(error)
        assert copy.exit_code == error.exit_code
        assert copy.to_dict() == error.to_dict()


def test_every_error_class_is_covered_by_the_pickling_test() -> None:
    classes = {
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, StageflowError)
    }
    assert classes == {type(e) for e in _examples()}
    assert set(errors.__all__) == {c.__name__ for c in classes}


def test_the_error_tree() -> None:
    assert issubclass(InvalidName, UsageError)
    assert issubclass(UnknownStage, UsageError)
    assert issubclass(UnknownPhase, UsageError)
    assert issubclass(RuleViolation, Refused)
    assert issubclass(GateFailed, Refused)
    for cls in (UsageError, NotFound, StateFileError, ConflictError, ProblemsError):
        assert issubclass(cls, StageflowError)
        assert cls.__bases__ == (StageflowError,)
    assert WorkflowDefinitionError.__bases__ == (ProblemsError,)
    assert ConfigError.__bases__ == (ProblemsError,)
    assert str(ConfigError(["a", "b"])) == "invalid configuration: a; b"
    assert str(WorkflowDefinitionError(["a"])) == "invalid workflow definition: a"
    assert issubclass(Refused, StageflowError)
    assert issubclass(StageflowError, Exception)


def test_exit_codes() -> None:
    for error in _examples():
        expected = 1 if isinstance(error, Refused) else 2
        assert error.exit_code == expected, type(error).__name__


def test_error_fields_callers_branch_on() -> None:
    unknown = UnknownStage("unknown stage '9'", stage="9", workflow="eight-stage")
    assert (unknown.stage, unknown.workflow) == ("9", "eight-stage")
    state = StateFileError("run.json", "truncated JSON")
    assert (state.path, state.problem) == ("run.json", "truncated JSON")
    assert str(state) == "run.json: truncated JSON"
    assert state.to_dict() == {
        "error": "StateFileError",
        "message": "run.json: truncated JSON",
        "path": "run.json",
        "problem": "truncated JSON",
    }
    assert NotFound("none", "feat").feature == "feat"
    assert ConflictError("changed", "loc").location == "loc"
    assert WorkflowDefinitionError(["a", "b"]).problems == ("a", "b")


def test_a_refusal_lists_its_error_findings_in_its_message() -> None:
    refused = GateFailed("complete failed", stage="architecture", findings=FINDINGS, run=RUN)
    assert refused.findings == FINDINGS
    assert refused.stage == "architecture"
    assert refused.run is RUN
    assert "no contexts.json" in str(refused)
    assert "a warning" not in str(refused)
    document = refused.to_dict()
    assert document["error"] == "GateFailed"
    assert [f["code"] for f in document["findings"]] == ["output-missing", "style"]
    assert json.loads(json.dumps(document)) == document


def test_a_refusal_raised_by_the_engine_pickles(tmp_path: Any) -> None:
    from stageflow.testing import make_orchestrator

    flow = make_orchestrator(tmp_path)
    flow.init("feat")
    with pytest.raises(GateFailed) as caught:
        flow.complete("feat", 1)
    copy = pickle.loads(pickle.dumps(caught.value))
    assert copy.findings == caught.value.findings
    assert copy.run == caught.value.run
    assert copy.stage == "architecture"
    assert str(copy) == str(caught.value)


# -- the public API --------------------------------------------------------------------------


def test_all_is_sorted_and_unique() -> None:
    assert stageflow.__all__ == sorted(stageflow.__all__)
    assert len(set(stageflow.__all__)) == len(stageflow.__all__)


def test_all_matches_the_lazily_exported_names() -> None:
    exported = set(stageflow._EXPORTS)  # type: ignore[attr-defined]
    assert set(stageflow.__all__) == exported | {"__version__"}
    assert sorted(dir(stageflow)) == sorted(stageflow.__all__)


@pytest.mark.parametrize("name", stageflow.__all__)
def test_every_public_name_resolves_and_has_a_docstring(name: str) -> None:
    value = getattr(stageflow, name)
    if name == "__version__":
        assert isinstance(value, str)
        assert value
        return
    module = stageflow._EXPORTS[name]  # type: ignore[attr-defined]
    home = __import__(f"stageflow.{module}", fromlist=[name])
    assert getattr(home, name) is value
    if inspect.isclass(value) or inspect.isfunction(value):
        assert value.__module__.startswith("stageflow"), name
        assert (value.__doc__ or "").strip(), f"{name} has no docstring"
    else:
        assert inspect.getdoc(value), f"{name} has no docstring"


def test_an_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        stageflow.no_such_name  # type: ignore[attr-defined]  # noqa: B018
    assert not hasattr(stageflow, "lifecycle_internal")


def test_the_version_is_a_string() -> None:
    parts = stageflow.__version__.split(".")
    assert len(parts) >= 3
    assert parts[0].isdigit()
    assert parts[1].isdigit()


HEAVY = ("attr", "attrs", "cattrs", "jsonschema", "transitions")


def _imported_after(statement: str) -> List[str]:
    code = (
        "import json, sys\n"
        f"{statement}\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_importing_the_cli_does_not_import_heavy_libraries() -> None:
    assert _imported_after("import stageflow.cli") == []


def test_importing_stageflow_and_its_errors_does_not_import_heavy_libraries() -> None:
    assert _imported_after("import stageflow, stageflow.errors; stageflow.UsageError") == []


def test_the_heavy_check_would_notice_a_heavy_import() -> None:
    # Guards the two tests above against passing vacuously.
    assert "transitions" in _imported_after("import stageflow; stageflow.Orchestrator")

"""Gates: the registry, evaluating a gate safely, and the default outputs-exist gate."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, List, Sequence

import pytest

from stageflow import lifecycle
from stageflow.errors import UsageError
from stageflow.findings import Finding, Severity, Verdict
from stageflow.gates import (
    GateRegistration,
    Registry,
    StageContext,
    evaluate_gate,
    match_output,
    outputs_exist,
    safe_join,
)
from stageflow.workflow import Output, StageSpec, WorkflowSpec

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def make_context(
    root: Path,
    outputs: Sequence[Output] = (),
    *,
    exit_overridable: bool = True,
    feature: str = "feat",
) -> StageContext:
    stage = StageSpec("build", "Build", outputs=outputs, exit_overridable=exit_overridable)
    spec = WorkflowSpec("wf", [StageSpec("plan", "Plan"), stage])
    run = lifecycle.new_run(spec, feature, 1, T0, "tester")
    return StageContext(feature=feature, workflow=spec, stage=stage, run=run, root=root)


def write(path: Path, text: str = "content") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def codes(findings: Sequence[Finding]) -> List[str]:
    return [f.code for f in findings]


# -- Registry --------------------------------------------------------------------------------


def check_docs(context: StageContext) -> List[Finding]:
    return []


def test_add_gate_registers_an_exit_gate_named_after_the_function() -> None:
    registry = Registry()
    registration = registry.add_gate("build", check_docs)
    assert registration == GateRegistration("build", "check-docs", check_docs, "exit", True)
    assert registration.gate is check_docs
    assert registry.gates_for("build", "exit") == (registration,)
    assert registry.gates_for("build", "entry") == ()
    assert registry.gates_for("plan", "exit") == ()
    assert registry.stages == ("build",)


def test_gates_keep_their_kind_order_name_and_overridable_flag() -> None:
    registry = Registry()
    first = registry.add_gate("build", check_docs, kind="entry", name="ready")
    second = registry.add_gate("build", lambda c: [], overridable=False, name="strict")
    third = registry.add_gate("build", check_docs)
    assert registry.gates_for("build", "entry") == (first,)
    assert registry.gates_for("build", "exit") == (second, third)
    assert (first.kind, first.name) == ("entry", "ready")
    assert second.overridable is False


def test_the_decorator_form_registers_and_returns_the_function() -> None:
    registry = Registry()

    @registry.gate("plan", kind="entry", overridable=False)
    def plan_is_ready(context: StageContext) -> List[Finding]:
        return []

    assert callable(plan_is_ready)
    assert plan_is_ready.__name__ == "plan_is_ready"
    (registration,) = registry.gates_for("plan", "entry")
    assert registration.gate is plan_is_ready
    assert registration.name == "plan-is-ready"
    assert registration.overridable is False


def test_a_bad_gate_kind_is_a_usage_error() -> None:
    registry = Registry()
    with pytest.raises(UsageError, match="'before'"):
        registry.add_gate("build", check_docs, kind="before")
    with pytest.raises(UsageError):
        registry.gate("build", kind="EXIT")(check_docs)
    assert registry.stages == ()


def test_a_non_callable_gate_or_hook_is_a_usage_error() -> None:
    registry = Registry()
    with pytest.raises(UsageError, match="not callable"):
        registry.add_gate("build", "check_docs")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="not callable"):
        registry.add_compensation("build", None)  # type: ignore[arg-type]
    assert registry.stages == ()


def test_compensation_hooks_are_kept_per_stage_in_order() -> None:
    registry = Registry()

    def undo_deploy(context: StageContext) -> None:
        return None

    first = registry.add_compensation("release", undo_deploy)
    second = registry.add_compensation("release", undo_deploy, name="second")
    registry.add_gate("build", check_docs)
    assert registry.compensations_for("release") == (first, second)
    assert first.name == "undo-deploy"
    assert registry.compensations_for("build") == ()
    assert registry.stages == ("build", "release")


def test_a_callable_object_is_named_after_its_class(tmp_path: Path) -> None:
    class RequireLicense:
        def __call__(self, context: StageContext) -> List[Finding]:
            return []

    registration = Registry().add_gate("build", RequireLicense())
    assert registration.name == "RequireLicense"
    verdict = evaluate_gate(registration, make_context(tmp_path))
    assert verdict.passed


# -- evaluate_gate ----------------------------------------------------------------------------


def _register(gate: object, **options: object) -> GateRegistration:
    return Registry().add_gate("build", gate, **options)  # type: ignore[arg-type]


def test_a_verdict_returned_by_a_gate_keeps_its_findings(tmp_path: Path) -> None:
    finding = Finding("no-adr", "no ADR", path="docs/adr", recommendation="write one")

    def gate(context: StageContext) -> Verdict:
        return Verdict.from_findings("whatever", [finding])

    verdict = evaluate_gate(_register(gate), make_context(tmp_path))
    assert verdict.passed is False
    assert verdict.findings == (finding,)
    assert verdict.gate == "exit:gate"
    assert verdict.kind == "exit"
    assert verdict.overridable is True


def test_an_iterable_of_findings_becomes_a_verdict(tmp_path: Path) -> None:
    def warns(context: StageContext) -> Iterator[Finding]:
        yield Finding("style", "minor", severity=Severity.WARNING)
        yield Finding("fyi", "note", severity="info")

    def errs(context: StageContext) -> List[Finding]:
        return [Finding("style", "minor", severity="warning"), Finding("broken", "bad")]

    context = make_context(tmp_path)
    warned = evaluate_gate(_register(warns), context)
    assert warned.passed is True
    assert codes(warned.findings) == ["style", "fyi"]
    failed = evaluate_gate(_register(errs), context)
    assert failed.passed is False
    assert codes(failed.errors) == ["broken"]
    assert evaluate_gate(_register(lambda c: ()), context).passed is True


@pytest.mark.parametrize("result", [True, False, None, "ok", b"ok", "", 1])
def test_a_bare_value_is_never_a_pass(tmp_path: Path, result: object) -> None:
    verdict = evaluate_gate(_register(lambda c: result, name="bare"), make_context(tmp_path))
    assert verdict.passed is False
    assert codes(verdict.findings) == ["gate-error"]
    assert verdict.gate == "exit:bare"


def test_an_iterable_holding_something_else_than_findings_fails(tmp_path: Path) -> None:
    verdict = evaluate_gate(_register(lambda c: [True, "x"]), make_context(tmp_path))
    assert verdict.passed is False
    assert codes(verdict.findings) == ["gate-error"]


def test_a_gate_that_raises_becomes_a_failed_verdict(tmp_path: Path) -> None:
    def explode(context: StageContext) -> List[Finding]:
        raise RuntimeError("database is down")

    verdict = evaluate_gate(_register(explode, kind="entry"), make_context(tmp_path))
    assert verdict.passed is False
    assert verdict.kind == "entry"
    (finding,) = verdict.findings
    assert finding.code == "gate-error"
    assert finding.is_error
    assert "RuntimeError" in finding.message
    assert "database is down" in finding.message
    assert "explode" in finding.message


def test_a_gate_that_raises_while_iterating_becomes_a_failed_verdict(tmp_path: Path) -> None:
    def lazy(context: StageContext) -> Iterator[Finding]:
        yield Finding("fine", "ok", severity="info")
        raise KeyError("missing")

    verdict = evaluate_gate(_register(lazy), make_context(tmp_path))
    assert verdict.passed is False
    assert codes(verdict.findings) == ["gate-error"]


@pytest.mark.parametrize(
    ("kind", "registered", "stage_allows", "expected"),
    [
        ("exit", True, True, True),
        ("exit", False, True, False),
        ("exit", True, False, False),
        ("exit", False, False, False),
        ("entry", True, False, True),
        ("entry", False, True, False),
    ],
)
def test_overridable_combines_registration_and_stage(
    tmp_path: Path, kind: str, registered: bool, stage_allows: bool, expected: bool
) -> None:
    context = make_context(tmp_path, exit_overridable=stage_allows)
    failing = _register(lambda c: [Finding("x", "x")], kind=kind, overridable=registered)
    raising = _register(lambda c: 1 / 0, kind=kind, overridable=registered)
    assert evaluate_gate(failing, context).overridable is expected
    assert evaluate_gate(raising, context).overridable is expected


def test_a_gate_sees_a_read_only_context(tmp_path: Path) -> None:
    seen: List[StageContext] = []

    def look(context: StageContext) -> List[Finding]:
        seen.append(context)
        return []

    context = make_context(tmp_path, [Output("notes", "out/{feature}.md")])
    evaluate_gate(_register(look), context)
    (got,) = seen
    assert got.feature == "feat"
    assert got.number == 2
    assert got.declared_outputs == ("out/feat.md",)
    assert got.root == tmp_path
    with pytest.raises(AttributeError):
        got.feature = "other"  # type: ignore[misc]


# -- outputs_exist ----------------------------------------------------------------------------


def test_a_missing_output_is_reported_with_its_path(tmp_path: Path) -> None:
    context = make_context(tmp_path, [Output("notes", "out/{feature}/notes.md")])
    (finding,) = outputs_exist(context)
    assert finding.code == "output-missing"
    assert finding.path == "out/feat/notes.md"
    assert finding.is_error
    assert finding.recommendation


def test_an_existing_non_empty_output_passes(tmp_path: Path) -> None:
    write(tmp_path / "out" / "feat" / "notes.md")
    context = make_context(tmp_path, [Output("notes", "out/{feature}/notes.md")])
    assert outputs_exist(context) == []


def test_an_empty_file_is_reported(tmp_path: Path) -> None:
    write(tmp_path / "out" / "notes.md", "")
    (finding,) = outputs_exist(make_context(tmp_path, [Output("notes", "out/notes.md")]))
    assert finding.code == "output-empty"
    assert finding.path == "out/notes.md"


def test_an_empty_folder_is_reported_and_a_filled_one_passes(tmp_path: Path) -> None:
    (tmp_path / "out" / "reports").mkdir(parents=True)
    context = make_context(tmp_path, [Output("reports", "out/reports")])
    assert codes(outputs_exist(context)) == ["output-empty"]
    write(tmp_path / "out" / "reports" / "r1.md")
    assert outputs_exist(context) == []


def test_every_declared_output_is_checked(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "")
    context = make_context(
        tmp_path,
        [Output("a", "a.md"), Output("b", "b.md"), Output("doc only"), Output("c", "c.md")],
    )
    assert codes(outputs_exist(context)) == ["output-empty", "output-missing", "output-missing"]


def test_documentation_only_outputs_are_not_checked(tmp_path: Path) -> None:
    context = make_context(tmp_path, [Output("Deployed feature"), Output("Team alignment")])
    assert context.declared_outputs == ()
    assert outputs_exist(context) == []


def test_a_glob_pattern_needs_at_least_one_non_empty_match(tmp_path: Path) -> None:
    context = make_context(tmp_path, [Output("subtasks", "tasks/{feature}/subtask_*.json")])
    (finding,) = outputs_exist(context)
    assert (finding.code, finding.path) == ("output-missing", "tasks/feat/subtask_*.json")

    write(tmp_path / "tasks" / "feat" / "subtask_01.json", "{}")
    write(tmp_path / "tasks" / "feat" / "other.json", "")
    assert outputs_exist(context) == []

    write(tmp_path / "tasks" / "feat" / "subtask_02.json", "")
    (finding,) = outputs_exist(context)
    assert (finding.code, finding.path) == ("output-empty", "tasks/feat/subtask_02.json")


def test_a_double_star_pattern_matches_at_any_depth(tmp_path: Path) -> None:
    context = make_context(tmp_path, [Output("contracts", "contracts/{feature}/**/contract.json")])
    assert codes(outputs_exist(context)) == ["output-missing"]

    write(tmp_path / "contracts" / "feat" / "api" / "v1" / "contract.json", "{}")
    assert outputs_exist(context) == []
    write(tmp_path / "contracts" / "feat" / "contract.json", "{}")
    assert sorted(
        p.relative_to(tmp_path).as_posix()
        for p in match_output(tmp_path, "contracts/feat/**/contract.json")
    ) == ["contracts/feat/api/v1/contract.json", "contracts/feat/contract.json"]
    # Another feature's contracts do not count.
    other = make_context(
        tmp_path, [Output("contracts", "contracts/{feature}/**/contract.json")], feature="other"
    )
    assert codes(outputs_exist(other)) == ["output-missing"]


def _symlink(link: Path, target: Path) -> None:
    try:
        os.symlink(target, link)
    except (OSError, NotImplementedError):  # pragma: no cover - platforms without symlinks
        pytest.skip("symbolic links are not available")


def test_a_symlink_escaping_the_root_is_ignored(tmp_path: Path) -> None:
    root = tmp_path / "project"
    outside = write(tmp_path / "elsewhere" / "secret.md", "outside content")
    (root / "out").mkdir(parents=True)
    _symlink(root / "out" / "notes.md", outside)
    _symlink(root / "linked", outside.parent)

    context = make_context(root, [Output("notes", "out/notes.md"), Output("g", "linked/*.md")])
    assert codes(outputs_exist(context)) == ["output-missing", "output-missing"]
    assert match_output(root, "out/notes.md") == []
    assert match_output(root, "linked/*.md") == []


def test_a_symlink_inside_the_root_counts(tmp_path: Path) -> None:
    real = write(tmp_path / "real" / "notes.md")
    (tmp_path / "out").mkdir()
    _symlink(tmp_path / "out" / "notes.md", real)
    assert outputs_exist(make_context(tmp_path, [Output("notes", "out/notes.md")])) == []


def test_a_dangling_symlink_matched_by_a_glob_is_a_missing_output(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    _symlink(tmp_path / "out" / "notes.md", tmp_path / "nowhere.md")
    for pattern in ("out/notes.md", "out/*.md"):
        context = make_context(tmp_path, [Output("notes", pattern)])
        assert codes(outputs_exist(context)) == ["output-missing"], pattern


def test_glob_outputs_are_found_under_a_root_whose_name_looks_like_a_pattern(
    tmp_path: Path,
) -> None:
    root = tmp_path / "proj[1]"
    write(root / "out" / "a.md")
    context = make_context(root, [Output("notes", "out/*.md"), Output("a", "out/a.md")])
    assert outputs_exist(context) == []
    assert match_output(root, "out/*.md") == [root / "out" / "a.md"]


# -- safe_join ------------------------------------------------------------------------------


@pytest.mark.parametrize("relative", ["../x", "/etc/x", "a/../../x", "a/..", ".."])
def test_safe_join_refuses_paths_leaving_the_root(tmp_path: Path, relative: str) -> None:
    with pytest.raises(UsageError):
        safe_join(tmp_path, relative)
    with pytest.raises(UsageError):
        make_context(tmp_path).path(relative)
    with pytest.raises(UsageError):
        match_output(tmp_path, relative)


@pytest.mark.parametrize(
    ("relative", "expected"),
    [("a..b.txt", "a..b.txt"), ("docs/..hidden/x", "docs/..hidden/x"), ("a/b.md", "a/b.md")],
)
def test_safe_join_accepts_paths_inside_the_root(
    tmp_path: Path, relative: str, expected: str
) -> None:
    assert safe_join(tmp_path, relative) == tmp_path / expected
    assert make_context(tmp_path).path(relative) == tmp_path / expected

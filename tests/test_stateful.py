"""Random operation sequences against the engine, checking the invariants after every step.

A Hypothesis ``RuleBasedStateMachine`` drives init / complete (outputs present or missing,
with and without override) / fail / rollback / abort / resume / validate on an
:class:`~stageflow.engine.Orchestrator` with an in-memory store and a fake clock, over the
built-in 8-stage workflow and a small custom workflow with branching prerequisites, a
non-overridable exit gate and a stage that needs a compensation hook to be rolled back.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from stageflow.demo import write_outputs
from stageflow.engine import Orchestrator
from stageflow.errors import GateFailed, NotFound, RuleViolation, UsageError
from stageflow.gates import Registry, StageContext
from stageflow.lifecycle import replay
from stageflow.run import RunState, RunStatus, StageStatus
from stageflow.serde import run_from_document, run_to_document
from stageflow.storage.memory import MemoryStore
from stageflow.testing import FakeClock
from stageflow.workflow import EIGHT_STAGE, Output, StageSpec, WorkflowSpec

SMALL = WorkflowSpec(
    name="small",
    stages=(
        StageSpec("design", "Design", outputs=(Output("Design note", "out/{feature}/design.md"),)),
        StageSpec(
            "build",
            "Build",
            prerequisites=("design",),
            outputs=(Output("Build logs", "out/{feature}/build/*.log"),),
            exit_overridable=False,
        ),
        StageSpec(
            "docs",
            "Docs",
            prerequisites=("design",),
            outputs=(Output("Prose only"),),
            approval=True,
        ),
        StageSpec(
            "ship",
            "Ship",
            prerequisites=("build", "docs"),
            outputs=(Output("Ship note", "out/{feature}/ship.md"),),
            rollback_requires_hook=True,
        ),
    ),
)
WORKFLOWS = {spec.name: spec for spec in (EIGHT_STAGE, SMALL)}
HOOKED = ("build", "ship")  # stages with a compensation hook
FEATURES = ("alpha", "beta")
MAX_STAGES = max(len(spec.stages) for spec in WORKFLOWS.values())

features = st.sampled_from(FEATURES)
workflow_names = st.sampled_from(sorted(WORKFLOWS))
# Stage references: numbers (some beyond a workflow's end), number strings (some out of
# range), and keys of either workflow (a key of the other workflow is unknown).
stage_refs = st.one_of(
    st.integers(min_value=1, max_value=MAX_STAGES),
    st.integers(min_value=0, max_value=MAX_STAGES + 1).map(str),
    st.sampled_from(sorted({k for spec in WORKFLOWS.values() for k in spec.keys})),
)
reasons = st.sampled_from(["a good reason", "the tests found a gap", "", "   "])
optional_reasons = st.one_of(st.none(), reasons)


def concrete(pattern: str) -> str:
    """A file name matching a declared output pattern."""
    return pattern.replace("**/", "").replace("*", "01")


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="stageflow-stateful-"))
        self.store = MemoryStore()
        registry = Registry()
        self.compensated: List[str] = []
        for key in HOOKED:
            registry.add_compensation(key, self._undo, name="undo-" + key)
        self.flow = Orchestrator(
            self.store,
            root=self.root,
            workflows=(EIGHT_STAGE, SMALL),
            registry=registry,
            clock=FakeClock(),
            actor="machine",
        )
        self.decoded: Dict[Tuple[str, int, str], RunState] = {}
        # The history of every run as last seen, to check it only ever grows.
        self.seen: Dict[Tuple[str, int], List[Dict[str, Any]]] = {}
        self.checked: Dict[str, str] = {}  # feature -> revision the invariants last checked
        # Finished runs that a later init replaced: frozen for ever.
        self.frozen: Dict[Tuple[str, int], Dict[str, Any]] = {}

    def teardown(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def _undo(self, context: StageContext) -> None:
        self.compensated.append(context.stage.key)

    # -- helpers -----------------------------------------------------------------------

    def _document(self, feature: str) -> Optional[Dict[str, Any]]:
        stored = self.store.latest(feature)
        return None if stored is None else stored.document

    def _run(self, feature: str) -> Optional[RunState]:
        """The feature's latest run, decoded strictly (once per stored revision)."""
        stored = self.store.latest(feature)
        if stored is None:
            return None
        key = (feature, stored.document["run"], stored.revision)
        if key not in self.decoded:
            self.decoded[key] = run_from_document(stored.document, stored.location)
        return self.decoded[key]

    def _spec(self, run: RunState) -> WorkflowSpec:
        return WORKFLOWS[run.workflow]

    def _operate(self, feature: str, operation: str, call: Any) -> Optional[RunState]:
        """Run one operation and check that it added exactly one event to the run, or none
        for a usage error raised before anything was recorded."""
        before = self._run(feature)
        outcome = "applied"
        try:
            call()
        except RuleViolation:
            outcome = "refused"
        except GateFailed:
            outcome = "failed"
        except UsageError:
            outcome = "usage"
        except NotFound:
            assert before is None, "NotFound for a feature that has a run"
            assert self._run(feature) is None
            return None
        after = self._run(feature)
        if outcome == "usage":
            assert after == before
            return None
        assert before is not None
        assert after is not None
        assert after.run == before.run
        assert len(after.history) == len(before.history) + 1
        last = after.history[-1]
        assert last.operation == operation
        assert last.outcome.value == outcome
        assert last.actor == "machine"
        if outcome == "refused":  # a refusal changes nothing but the history
            assert after.stages == before.stages
            assert (after.status, after.current_stage) == (before.status, before.current_stage)
        return after

    def _current_number(self, feature: str) -> Optional[int]:
        run = self._run(feature)
        if run is None or run.current_stage is None:
            return None
        return self._spec(run).number(run.current_stage)

    # -- rules -------------------------------------------------------------------------

    @initialize(workflows=st.lists(workflow_names, min_size=len(FEATURES), max_size=len(FEATURES)))
    def start(self, workflows: List[str]) -> None:
        """Most sequences should work on runs, so each feature starts with one."""
        for feature, workflow in zip(FEATURES, workflows):
            self.init(feature, workflow)

    @rule(feature=features, workflow=workflow_names)
    def init(self, feature: str, workflow: str) -> None:
        before_doc = self._document(feature)
        before = self._run(feature)
        try:
            run = self.flow.init(feature, workflow=workflow)
        except RuleViolation:
            assert before is not None
            assert not before.is_finished
            after = self._run(feature)
            assert after is not None
            assert after.run == before.run
            assert len(after.history) == len(before.history) + 1
            last = after.history[-1]
            assert (last.operation, last.outcome.value) == ("init", "refused")
            assert after.stages == before.stages
            assert after.status == before.status
            return
        assert before is None or before.is_finished
        assert run.run == (1 if before is None else before.run + 1)
        assert run.workflow == workflow
        assert run.status is RunStatus.ACTIVE
        assert run.current_stage == WORKFLOWS[workflow].keys[0]
        assert run.stages[0].status is StageStatus.IN_PROGRESS
        assert len(run.history) == 1
        assert self._run(feature) == run
        assert self.store.runs(feature) == list(range(1, run.run + 1))
        if before_doc is not None:
            self.frozen[(feature, before_doc["run"])] = before_doc

    @rule(feature=features, stage=st.integers(min_value=1, max_value=MAX_STAGES))
    def produce_outputs(self, feature: str, stage: int) -> None:
        run = self._run(feature)
        if run is None or stage > len(self._spec(run).stages):
            return
        spec = self._spec(run)
        if spec is EIGHT_STAGE:  # artifacts that pass the stage's content gate
            write_outputs(self.root, spec.stages[stage - 1].key, feature)
            return
        for output in spec.stages[stage - 1].outputs:
            pattern = output.resolve(feature)
            if pattern is not None:
                path = self.root / concrete(pattern)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("produced\n", encoding="utf-8")

    @rule(
        feature=features, stage=st.integers(min_value=1, max_value=MAX_STAGES), empty=st.booleans()
    )
    def spoil_outputs(self, feature: str, stage: int, empty: bool) -> None:
        run = self._run(feature)
        if run is None or stage > len(self._spec(run).stages):
            return
        for output in self._spec(run).stages[stage - 1].outputs:
            pattern = output.resolve(feature)
            path = None if pattern is None else self.root / concrete(pattern)
            if path is not None and path.exists():
                if empty:
                    path.write_bytes(b"")
                else:
                    path.unlink()

    @rule(feature=features, stage=stage_refs, override=st.booleans(), reason=optional_reasons)
    def complete(self, feature: str, stage: Any, override: bool, reason: Optional[str]) -> None:
        before = self._run(feature)
        after = self._operate(
            feature,
            "complete",
            lambda: self.flow.complete(feature, stage, override=override, reason=reason),
        )
        if before is None or after is None:
            return
        spec = self._spec(before)
        last = after.history[-1]
        key = spec.stage(stage).key
        if last.outcome.value == "applied":
            assert before.current_stage == key  # rule 1
            assert before.status is RunStatus.ACTIVE
            waits = spec.stage(key).approval
            assert after.stage(key).status is (
                StageStatus.AWAITING_APPROVAL if waits else StageStatus.COMPLETED
            )
            assert (after.status is RunStatus.AWAITING_APPROVAL) == waits
            if last.override is not None:  # rule 3: a justified override, recorded
                assert override
                assert last.override.justification == (reason or "").strip() != ""
                assert last.override.findings
                assert after.stage(key).override == last.override
                assert spec.stage(key).exit_overridable  # rule 4
        elif last.outcome.value == "failed":
            assert after.stage(key).status is StageStatus.FAILED
            assert after.stage(key).findings
            assert (after.status, after.current_stage) == (RunStatus.ACTIVE, key)

    @rule(
        feature=features,
        produce=st.booleans(),
        override=st.booleans(),
        reason=optional_reasons,
        times=st.integers(min_value=1, max_value=3),
    )
    def complete_current(
        self, feature: str, produce: bool, override: bool, reason: Optional[str], times: int
    ) -> None:
        """Complete the stage the run is at (by number), often with its outputs in place;
        up to ``times`` stages in a row, so that sequences reach the later stages."""
        for _ in range(times):
            number = self._current_number(feature)
            if number is None:
                return
            if produce:
                self.produce_outputs(feature, number)
            self.complete(feature, number, override, reason)

    @rule(feature=features, stage=stage_refs, approve=st.booleans(), note=reasons)
    def decide(self, feature: str, stage: Any, approve: bool, note: str) -> None:
        before = self._run(feature)
        operation = "approve" if approve else "reject"
        call = getattr(self.flow, operation)
        after = self._operate(
            feature, operation, lambda: call(feature, stage, by="machine", note=note)
        )
        if before is None or after is None or after.history[-1].outcome.value != "applied":
            return
        key = self._spec(before).stage(stage).key
        assert before.status is RunStatus.AWAITING_APPROVAL
        assert before.current_stage == key
        record = after.stage(key)
        assert record.feedback[-1].decision == ("approved" if approve else "rejected")
        assert record.status is (StageStatus.COMPLETED if approve else StageStatus.IN_PROGRESS)

    @rule(feature=features, reason=reasons)
    def decide_current(self, feature: str, reason: str) -> None:
        """Approve the stage the run waits at (most sequences should get past it)."""
        run = self._run(feature)
        if run is not None and run.status is RunStatus.AWAITING_APPROVAL:
            self.decide(feature, self._spec(run).number(str(run.current_stage)), True, reason)

    @rule(feature=features, stage=stage_refs, reason=reasons)
    def fail(self, feature: str, stage: Any, reason: str) -> None:
        after = self._operate(
            feature, "fail", lambda: self.flow.fail(feature, stage, reason=reason)
        )
        if after is not None and after.history[-1].outcome.value == "applied":
            assert after.status is RunStatus.FAILED
            assert after.stage(str(after.current_stage)).status is StageStatus.FAILED
            assert after.stage(str(after.current_stage)).error == reason.strip()

    @rule(feature=features, stage=stage_refs, reason=reasons)
    def rollback(self, feature: str, stage: Any, reason: str) -> None:
        before = self._run(feature)
        self.compensated.clear()
        after = self._operate(
            feature, "rollback", lambda: self.flow.rollback(feature, stage, reason=reason)
        )
        if before is None or after is None:
            return
        spec = self._spec(before)
        old = len(spec.stages) if before.current_stage is None else spec.index(before.current_stage)
        if after.history[-1].outcome.value != "applied":
            assert self.compensated == []
            return
        assert after.current_stage is not None
        new = spec.index(after.current_stage)
        assert new <= old, "rollback moved the current stage forward"
        assert after.status is RunStatus.ACTIVE
        assert after.ended_at is None
        assert all(r.status is StageStatus.PENDING for r in after.stages[new:])
        assert after.stages[:new] == before.stages[:new]
        # Rule 5: compensation hooks of the rolled-back stages ran, last stage first.
        started = [
            r.key for r in reversed(before.stages[new:]) if r.status is not StageStatus.PENDING
        ]
        assert self.compensated == [key for key in started if key in HOOKED]
        assert list(after.history[-1].compensations) == [
            f"{key}:undo-{key}" for key in started if key in HOOKED
        ]
        # ...and a completed stage that needs a hook had one.
        for key in started:
            if before.stage(key).status is StageStatus.COMPLETED:
                assert key in HOOKED or not spec.stage(key).rollback_requires_hook

    @rule(feature=features, back=st.integers(min_value=0, max_value=3), reason=reasons)
    def rollback_earlier(self, feature: str, back: int, reason: str) -> None:
        """Roll back to the current stage or one a few stages before it."""
        run = self._run(feature)
        if run is None:
            return
        last = len(self._spec(run).stages) if run.current_stage is None else None
        number = last if last is not None else self._current_number(feature)
        assert number is not None
        self.rollback(feature, max(1, number - back), reason)

    @rule(feature=features, reason=reasons)
    def abort(self, feature: str, reason: str) -> None:
        after = self._operate(feature, "abort", lambda: self.flow.abort(feature, reason=reason))
        if after is not None and after.history[-1].outcome.value == "applied":
            assert after.status is RunStatus.ABORTED
            assert after.ended_at is not None

    @rule(feature=features, stage=stage_refs)
    def resume(self, feature: str, stage: Any) -> None:
        before = self._run(feature)
        after = self._operate(feature, "resume", lambda: self.flow.resume(feature, stage))
        if before is None or after is None:
            return
        if after.history[-1].outcome.value == "applied":
            assert before.status in (RunStatus.ABORTED, RunStatus.FAILED)
            assert after.status is RunStatus.ACTIVE
            assert after.current_stage == before.current_stage  # no stage can be jumped
            assert after.ended_at is None

    @rule(feature=features)
    def resume_current(self, feature: str) -> None:
        number = self._current_number(feature)
        if number is not None:
            self.resume(feature, number)

    @rule(feature=features, stage=stage_refs)
    def validate(self, feature: str, stage: Any) -> None:
        before = self._document(feature)
        try:
            report = self.flow.validate(feature, stage)
        except (UsageError, NotFound):
            pass
        else:
            run = self._run(feature)
            assert run is not None
            if report.passed:  # a passing dry run: the stage could be completed now
                assert run.status is RunStatus.ACTIVE
                assert run.current_stage == report.stage
        assert self._document(feature) == before  # a dry run changes nothing

    @rule(feature=features)
    def status(self, feature: str) -> None:
        before = self._document(feature)
        try:
            run = self.flow.status(feature)
        except NotFound:
            assert before is None
        else:
            assert run_to_document(run) == before
            assert self.flow.history(feature) == run.history
        assert self._document(feature) == before

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def every_run_is_consistent(self) -> None:
        for feature in FEATURES:
            stored = self.store.latest(feature)
            if stored is None or self.checked.get(feature) == stored.revision + "@" + str(
                stored.document["run"]
            ):
                continue  # unchanged since it was last checked
            self.checked[feature] = stored.revision + "@" + str(stored.document["run"])
            document = stored.document
            run = self._run(feature)
            assert run is not None
            spec = self._spec(run)
            statuses = [r.status for r in run.stages]

            assert statuses.count(StageStatus.IN_PROGRESS) <= 1
            for record in run.stages:
                if record.status is StageStatus.COMPLETED:
                    for prerequisite in spec.stage(record.key).prerequisites:
                        assert run.stage(prerequisite).status is StageStatus.COMPLETED
            done = statuses.count(StageStatus.COMPLETED)
            assert statuses[:done] == [StageStatus.COMPLETED] * done, "completed is a prefix"
            assert (run.status is RunStatus.COMPLETED) == (done == len(statuses))
            assert (run.current_stage is None) == (run.status is RunStatus.COMPLETED)
            if run.current_stage is not None:
                assert spec.index(run.current_stage) == done
                current = run.stage(run.current_stage).status
                if run.status is RunStatus.ACTIVE:  # pending right after a rollback to it
                    assert current in (
                        StageStatus.IN_PROGRESS,
                        StageStatus.FAILED,
                        StageStatus.PENDING,
                    )
                if run.status is RunStatus.FAILED:
                    assert current is StageStatus.FAILED
                if run.status is RunStatus.AWAITING_APPROVAL:
                    assert current is StageStatus.AWAITING_APPROVAL
                if current is StageStatus.AWAITING_APPROVAL:
                    assert run.status in (RunStatus.AWAITING_APPROVAL, RunStatus.ABORTED)
                assert statuses[done + 1 :] == [StageStatus.PENDING] * (len(statuses) - done - 1)

            # The history is append-only: it only grows and its old prefix never changes.
            events = document["history"]
            assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
            seen = self.seen.get((feature, run.run), [])
            assert len(events) >= len(seen)
            assert events[: len(seen)] == seen
            self.seen[(feature, run.run)] = events

            # Replaying the history reproduces the state; the document round-trips.
            assert replay(spec, run.feature, run.run, run.history) == run
            assert run_to_document(run) == document

    @invariant()
    def replaced_runs_never_change(self) -> None:
        for (feature, number), document in self.frozen.items():
            assert self.store.load(feature, number).document == document


# Sized to run in a few seconds: every step decodes the run document strictly (schema and
# all) here, and histories grow with every step.
EngineMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestEngine = EngineMachine.TestCase

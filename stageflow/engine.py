"""The orchestrator: the imperative shell around the functional core.

Each operation loads the run under the feature's lock, asks :mod:`stageflow.lifecycle`
what the rules say, runs gates and hooks, applies the resulting event, and saves with a
revision check. Refused operations are recorded in the history too, then raised as
:class:`~stageflow.errors.RuleViolation` or :class:`~stageflow.errors.GateFailed`.
"""

from __future__ import annotations

import getpass
import os
import shutil
from collections import OrderedDict
from datetime import datetime, timezone
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    NamedTuple,
    Optional,
    Protocol,
    Sequence,
    Tuple,
    Union,
)

import attrs

from . import lifecycle
from ._fileio import fsync_dir
from ._phases import (
    DONE,
    effective_spec,
    phase_of,
    running_phase,
    stage_is_done,
    waiting_phase,
)
from ._rundoc import check_before_write
from ._time import SystemClock
from .errors import (
    GateFailed,
    NotFound,
    Refused,
    RuleViolation,
    StateFileError,
    UsageError,
    WorkflowDefinitionError,
)
from .findings import Finding, Verdict
from .gates import (
    ENTRY,
    EXIT,
    GateRegistration,
    HookRegistration,
    Registry,
    StageContext,
    evaluate_gate,
    match_output,
)
from .review import ReviewPolicy, ReviewResult, decide_review, review_summary
from .run import Event, Outcome, ReviewRecord, RunState, RunStatus, StageRecord, StageStatus
from .serde import run_from_document, run_to_document
from .storage import RunStore, StoredRun, Stores
from .storage._port import TaskStore
from .workflow import WorkflowSpec, builtin_workflows, check_feature_name, output_path_problem

if TYPE_CHECKING:  # imported when needed: the context and config modules are not hot
    from .config import Config
    from .context import StageBrief

__all__ = ["Clock", "Orchestrator", "SystemClock", "Validation", "default_actor"]

StageRef = Union[str, int]
_DECODED_CACHE_SIZE = 1024


class Clock(Protocol):
    """Where the orchestrator gets the time; :class:`stageflow.testing.FakeClock` for tests."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


def default_actor() -> str:
    """``STAGEFLOW_ACTOR``, else the login name, else ``"unknown"``."""
    actor = os.environ.get("STAGEFLOW_ACTOR")
    if actor:
        return actor
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


@attrs.frozen
class Validation:
    """The result of a dry-run :meth:`Orchestrator.validate`: every verdict, nothing changed."""

    feature: str
    stage: str
    number: int
    verdicts: Tuple[Verdict, ...]

    @property
    def passed(self) -> bool:
        """True if the stage could be completed now without an override."""
        return all(v.passed for v in self.verdicts)

    @property
    def findings(self) -> Tuple[Finding, ...]:
        """Every finding of every verdict, passing ones included."""
        return tuple(f for v in self.verdicts for f in v.findings)


class _Applied(NamedTuple):
    """Events a decision made and the run state after all of them (so that nothing
    applies them a second time)."""

    events: Tuple[Event, ...]
    state: RunState


_Decided = Union[Event, List[Event], _Applied]
"""What an operation's decision gives :meth:`Orchestrator._operate` to save."""


class Orchestrator:
    """Runs workflows for features, enforcing the gating rules.

    ``store`` keeps the runs (default: the files store under ``root``); ``tasks`` is the
    task store gates read the feature's task files from (default: the files store under
    ``root``). ``store`` may also be a :class:`~stageflow.storage.Stores` (what
    :func:`~stageflow.storage.open_stores` returns): its runs, and its tasks unless
    ``tasks`` is given. ``root`` is the project root that gates look at for project files
    and where outputs are archived (default: the current folder). ``workflows`` are the
    workflow definitions runs may use (default: the built-in ones,
    :func:`~stageflow.workflow.builtin_workflows`); the first is the default for
    :meth:`init`. ``registry`` holds custom gates and compensation hooks. With
    ``default_gates`` (the default), each stage of the 8-stage workflow gets its content
    gate (:mod:`stageflow.content_gates`), and any other stage with declared outputs the
    ``outputs-exist`` exit gate; ``default_gates=False`` turns them all off. ``config``
    (a :class:`~stageflow.config.Config`) gives the policies of review phases.
    """

    def __init__(
        self,
        store: Union[RunStore, Stores, None] = None,
        *,
        tasks: Optional[TaskStore] = None,
        root: Union[str, os.PathLike[str], None] = None,
        workflows: Optional[Iterable[WorkflowSpec]] = None,
        registry: Optional[Registry] = None,
        clock: Optional[Clock] = None,
        actor: Optional[str] = None,
        default_gates: bool = True,
        config: Optional[Config] = None,
    ) -> None:
        self.root = Path(os.path.abspath(os.fspath(root) if root is not None else os.getcwd()))
        if isinstance(store, Stores):
            tasks = tasks if tasks is not None else store.tasks
            store = store.runs
        if store is None:
            from .storage.files import FileStore

            store = FileStore(self.root)
        self.store: RunStore = store
        if tasks is None:
            from .storage.taskfiles import FileTaskStore

            tasks = FileTaskStore(self.root)
        self.tasks: TaskStore = tasks
        if workflows is None:
            workflows = builtin_workflows().values()
        self.workflows = {w.name: w for w in workflows}
        if not self.workflows:
            raise UsageError("an orchestrator needs at least one workflow")
        self.default_workflow = next(iter(self.workflows))
        self.registry = registry if registry is not None else Registry()
        self.clock = clock or SystemClock()
        self.actor = _check_actor(actor or default_actor())
        self.config = config
        self.default_gates = default_gates
        # Runs this orchestrator decoded or wrote, by (location, revision): a revision names
        # one exact content, so a hit skips re-checking and re-structuring the document.
        self._decoded: OrderedDict[Tuple[str, str], Tuple[WorkflowSpec, RunState]] = OrderedDict()
        self._check_workflows()
        known = {key for w in self.workflows.values() for key in w.keys}
        unknown = [key for key in self.registry.stages if key not in known]
        if unknown:
            raise UsageError(
                f"gates or hooks registered for unknown stage(s) {', '.join(unknown)}; "
                f"known stages: {', '.join(sorted(known))}"
            )

    def _check_workflows(self) -> None:
        """Refuse workflows whose gate or hook names the registry cannot resolve."""
        from .workflow_doc import unknown_names

        problems = []
        for spec in self.workflows.values():
            problems += [f"workflow {spec.name!r}: {p}" for p in unknown_names(spec, self.registry)]
        if problems:
            raise WorkflowDefinitionError(problems)

    # -- reading -----------------------------------------------------------------------

    def workflow(self, name: Optional[str] = None) -> WorkflowSpec:
        """The workflow definition called ``name`` (default: the default workflow)."""
        name = name or self.default_workflow
        try:
            return self.workflows[name]
        except KeyError:
            raise NotFound(
                f"unknown workflow {name!r}; known: {', '.join(sorted(self.workflows))}"
            ) from None

    def _decode(
        self, stored: StoredRun, feature: Optional[str] = None
    ) -> Tuple[WorkflowSpec, RunState]:
        """Check and structure a stored document, or reuse the value decoded for its revision.

        Beyond the schema, the document must belong to ``feature`` and its state must be what
        its history replays to: a hand-edited file cannot skip a stage.
        """
        key = (stored.location, stored.revision)
        cached = self._decoded.get(key)
        if cached is not None:
            self._decoded.move_to_end(key)
            return cached
        bounded = getattr(self.store, "archives_history", False) is True
        run = run_from_document(stored.document, stored.location, bounded=bounded)
        if feature is not None and run.feature != feature:
            raise StateFileError(
                stored.location, f"it holds feature {run.feature!r}, not {feature!r}"
            )
        try:
            spec = self.workflow(run.workflow)
        except NotFound as exc:
            raise StateFileError(stored.location, str(exc)) from None
        if tuple(r.key for r in run.stages) != spec.keys:
            raise StateFileError(
                stored.location,
                f"its stages ({', '.join(r.key for r in run.stages)}) do not match workflow "
                f"{spec.name!r} ({', '.join(spec.keys)})",
            )
        if run.history[0].seq > 1:
            # A bounded history (docs/storage.md): its older events are archived by the
            # store, which is trusted for the state they led to; replaying needs them all
            # (the store's load_full).
            self._remember(key, spec, run)
            return spec, run
        try:
            replayed = lifecycle.replay(spec, run.feature, run.run, run.history)
        except Exception as exc:  # a history the engine cannot apply
            raise StateFileError(
                stored.location, f"its history cannot be replayed: {exc}"
            ) from None
        if replayed != run:
            raise StateFileError(
                stored.location,
                "its state does not match its history (edited by hand?); "
                "restore it from version control or the archive",
            )
        self._remember(key, spec, run)
        return spec, run

    def _as_stored(self, run: RunState) -> RunState:
        """``run`` as the store now holds it: a store that bounds histories
        (``history_limit``, docs/storage.md) kept only the newest events, and so does the
        cache, so that a long-lived orchestrator never carries the whole history again."""
        limit = getattr(self.store, "history_limit", None)
        bounded = getattr(self.store, "archives_history", False) is True
        if bounded and isinstance(limit, int) and 0 < limit < len(run.history):
            return attrs.evolve(run, history=run.history[-limit:])
        return run

    def _remember(self, key: Tuple[str, str], spec: WorkflowSpec, run: RunState) -> None:
        self._decoded[key] = (spec, run)
        if len(self._decoded) > _DECODED_CACHE_SIZE:
            self._decoded.popitem(last=False)

    def _latest(self, feature: str) -> StoredRun:
        check_feature_name(feature)
        stored = self.store.latest(feature)
        if stored is None:
            raise NotFound(
                f"no run for feature {feature!r}; start one with: stageflow stage init {feature}",
                feature,
            )
        return stored

    def status(self, feature: str, run: Optional[int] = None) -> RunState:
        """The feature's latest run (or run number ``run``)."""
        check_feature_name(feature)
        stored = self._latest(feature) if run is None else self.store.load(feature, run)
        found = self._decode(stored, feature)[1]
        if run is not None and found.run != run:
            raise StateFileError(stored.location, f"it holds run {found.run}, not run {run}")
        return found

    def history(self, feature: str, run: Optional[int] = None) -> Tuple[Event, ...]:
        """The append-only history of the feature's latest run (or run ``run``); from a
        store with a ``history_limit``, its newest events (docs/storage.md)."""
        return self.status(feature, run).history

    def runs(self, feature: str) -> List[int]:
        """Every run number of ``feature``, oldest first."""
        check_feature_name(feature)
        return self.store.runs(feature)

    def features(self) -> List[str]:
        """Every feature with a run."""
        return self.store.features()

    def context(
        self, feature: str, stage: StageRef, *, config: Optional[Config] = None
    ) -> StageBrief:
        """What the agent of ``stage`` receives in the feature's latest run: a
        :class:`~stageflow.context.StageBrief` (see :func:`stageflow.context.context_for`);
        ``config`` (a :class:`~stageflow.config.Config`) gives the stage's settings."""
        from .context import context_for

        spec, run = self._decode(self._latest(feature), feature)
        return context_for(run, spec, spec.stage(stage).key, config)

    def validate(self, feature: str, stage: StageRef) -> Validation:
        """Dry run of completing ``stage``: rules, entry gates and exit gates; changes nothing."""
        spec, run = self._decode(self._latest(feature), feature)
        key = spec.stage(stage).key
        verdicts = lifecycle.check_complete(spec, run, key) + self._evaluate(spec, run, key, ())
        return Validation(feature, key, spec.number(key), verdicts)

    # -- gates -------------------------------------------------------------------------

    def gates_for(self, spec: WorkflowSpec, key: str) -> Tuple[GateRegistration, ...]:
        """The entry gates, then the exit gates, that apply to stage ``key``."""
        builtin: Tuple[GateRegistration, ...] = ()
        if self.default_gates:
            # Imported here: the content gates pull in the task-file validator, which
            # operations that run no gate (init, fail, abort, ...) do not need.
            from .content_gates import default_gates

            builtin = default_gates(spec, spec.stage(key).key)
        stage = spec.stage(key)
        return (
            self.registry.gates_for(key, ENTRY)
            + self._named_gates(stage.key, stage.entry_gates, ENTRY)
            + builtin
            + self._named_gates(stage.key, stage.exit_gates, EXIT)
            + self.registry.gates_for(key, EXIT)
        )

    def _named_gates(
        self, key: str, names: Tuple[str, ...], kind: str
    ) -> Tuple[GateRegistration, ...]:
        """The gates a stage names, from the registry, else the content gates."""
        found = []
        for name in names:
            defined = self.registry.named_gate(name)
            if defined is None:
                from .content_gates import CONTENT_GATES  # checked at construction

                content = next(g for g in CONTENT_GATES.values() if g.name == name)
                defined = (content.gate, content.overridable)
            found.append(GateRegistration(key, name, defined[0], kind, defined[1]))
        return tuple(found)

    def compensations_for(self, spec: WorkflowSpec, key: str) -> Tuple[HookRegistration, ...]:
        """The compensation hooks of stage ``key``: those registered for it, then those its
        definition names (:attr:`~stageflow.workflow.StageSpec.compensations`)."""
        stage = spec.stage(key)
        named = []
        for name in stage.compensations:
            hook = self.registry.named_hook(name)
            assert hook is not None  # checked at construction
            named.append(HookRegistration(stage.key, name, hook))
        return self.registry.compensations_for(stage.key) + tuple(named)

    def _context(
        self,
        spec: WorkflowSpec,
        run: RunState,
        key: str,
        outputs: Sequence[str],
        reason: Optional[str] = None,
    ) -> StageContext:
        return StageContext(
            feature=run.feature,
            workflow=spec,
            stage=spec.stage(key),
            run=run,
            root=self.root,
            outputs=tuple(outputs),
            reason=reason,
            tasks=self.tasks,
        )

    def _evaluate(
        self, spec: WorkflowSpec, run: RunState, key: str, outputs: Sequence[str]
    ) -> Tuple[Verdict, ...]:
        context = self._context(spec, run, key, outputs)
        return tuple(evaluate_gate(g, context) for g in self.gates_for(spec, key))

    # -- operations --------------------------------------------------------------------

    def init(
        self,
        feature: str,
        *,
        workflow: Optional[str] = None,
        skip: Sequence[str] = (),
        actor: Optional[str] = None,
        task: Optional[str] = None,
        approvals: Sequence[str] = (),
    ) -> RunState:
        """Start a new run with its first stage in progress.

        ``task`` is the task description the run keeps; :func:`stageflow.context.context_for`
        hands every stage its first 200 characters.

        ``skip`` names stage keys and phase ids this run leaves out (``skip=("test",)``), on
        top of those the workflow disables: they are ``skipped`` from the start and the run
        passes over them; the init event records them. Refused while the feature's latest
        run is active or failed (resume or abort it first). Earlier completed or aborted
        runs are kept and stay readable.

        ``approvals`` names stages that, once their gates pass, wait in
        ``awaiting_approval`` for :meth:`approve` (or :meth:`reject`), on top of the stages
        whose workflow declares ``approval``; the init event records them.
        """
        check_feature_name(feature)
        spec = self.workflow(workflow)
        who = self._actor(actor)
        skip = tuple(skip) if not isinstance(skip, (str, bytes)) else skip
        effective_spec(spec, skip)  # a bad name is a usage error, before anything is read
        approvals = lifecycle.check_approvals(spec, approvals)
        if task is not None:
            if not isinstance(task, str) or not task.strip():
                raise UsageError(f"a task description is non-blank text, not {task!r}")
            task = _check_text(task.strip(), "task")
        refused: Optional[Refused] = None
        with self.store.lock(feature):
            stored = self.store.latest(feature)
            if stored is not None:
                old_spec, old = self._decode(stored, feature)
                if not old.is_finished:
                    verdict = lifecycle.rule(
                        "run-exists",
                        [
                            Finding(
                                "run-exists",
                                f"feature {feature!r} already has {_a(old.status.value)} run "
                                f"(#{old.run})",
                                recommendation="resume or abort that run before starting a new one",
                            )
                        ],
                    )
                    event = lifecycle.decide("init", (verdict,), now=self._now(), actor=who)
                    refused = self._save_refusal(old_spec, old, event, stored)[1]
            if refused is None:
                number = max(self.store.runs(feature), default=0) + 1
                run = lifecycle.new_run(
                    spec, feature, number, self._now(), who, skip, task, approvals
                )
                document = run_to_document(run)
                check_before_write(document, f"new run {number} of {feature!r}")
                self.store.create(feature, number, document)
        if refused is not None:
            raise refused  # outside the lock: the refusal is committed
        return run

    def complete(
        self,
        feature: str,
        stage: StageRef,
        *,
        override: bool = False,
        reason: Optional[str] = None,
        outputs: Sequence[str] = (),
        actor: Optional[str] = None,
    ) -> RunState:
        """Complete the current stage: rules, then entry and exit gates.

        On failing gates the stage becomes ``failed`` with every finding and
        :class:`GateFailed` is raised; fix the problems and complete again. With
        ``override=True`` and a non-empty ``reason``, failing overridable gates are
        overridden and the override is recorded.
        """
        if isinstance(outputs, (str, bytes)):
            raise UsageError("outputs must be a list of paths, not a single string")
        for path in outputs:
            problem = output_path_problem(_check_text(path, "output path")) or self._real_problem(
                self.root / path
            )
            if problem:
                raise UsageError(problem)
        if reason is not None:
            _check_text(reason, "reason")

        def decide(spec: WorkflowSpec, run: RunState) -> Event:
            key = spec.stage(stage).key
            return self._decide_complete(spec, run, key, override, reason, outputs, actor)

        return self._operate(feature, decide)

    def _decide_complete(
        self,
        spec: WorkflowSpec,
        run: RunState,
        key: str,
        override: bool,
        reason: Optional[str],
        outputs: Sequence[str],
        actor: Optional[str],
    ) -> Event:
        rules = lifecycle.check_complete(spec, run, key)
        gates: Tuple[Verdict, ...] = ()
        recorded: List[str] = list(outputs)
        if all(v.passed for v in rules):
            gates = self._evaluate(spec, run, key, outputs)
            for pattern in self._context(spec, run, key, outputs).declared_outputs:
                recorded.extend(
                    _storable_name(p.relative_to(self.root).as_posix())
                    for p in match_output(self.root, pattern)
                )
        return lifecycle.decide_complete(
            rules,
            gates,
            stage=key,
            now=self._now(),
            actor=self._actor(actor),
            override=override,
            justification=reason,
            outputs=sorted(set(recorded)),
        )

    def fail(
        self, feature: str, stage: StageRef, *, reason: str, actor: Optional[str] = None
    ) -> RunState:
        """Mark the current stage ``failed`` and the run ``failed``; resume it later."""
        why = _require_reason(reason, "fail")

        def decide(spec: WorkflowSpec, run: RunState) -> Event:
            key = spec.stage(stage).key
            return lifecycle.decide(
                "fail",
                lifecycle.check_fail(spec, run, key),
                now=self._now(),
                actor=self._actor(actor),
                stage=key,
                reason=why,
            )

        return self._operate(feature, decide)

    def rollback(
        self, feature: str, stage: StageRef, *, reason: str, actor: Optional[str] = None
    ) -> RunState:
        """Go back to ``stage`` (the current one or an earlier one).

        Compensation hooks of every started stage from the last back to ``stage`` run first,
        in that order; then those stages' outputs are moved to the archive; then the stages
        (``stage`` included) return to ``pending`` and ``stage`` becomes the current stage,
        to be completed again.
        """
        why = _require_reason(reason, "rollback")
        moved: List[Tuple[Path, Path]] = []

        def decide(spec: WorkflowSpec, run: RunState) -> _Applied:
            # a stop asked for while a phase ran happens now: the rollback ended that phase
            return self._with_follow_ups(
                spec, run, [rolled_back(spec, run)], spec.stage(stage).key, actor, complete=False
            )

        def rolled_back(spec: WorkflowSpec, run: RunState) -> Event:
            key = spec.stage(stage).key
            who = self._actor(actor)
            hooked = [k for k in spec.keys if self.compensations_for(spec, k)]
            rules = lifecycle.check_rollback(spec, run, key, hooked)
            if not all(v.passed for v in rules):
                return lifecycle.decide(
                    "rollback", rules, now=self._now(), actor=who, stage=key, reason=why
                )
            scope = lifecycle.rollback_scope(spec, run, key)
            ran: List[str] = []
            for record in scope:
                context = self._context(spec, run, record.key, record.outputs, why)
                for hook in reversed(self.compensations_for(spec, record.key)):
                    try:
                        hook.hook(context)
                    except Exception as exc:
                        failure = lifecycle.rule(
                            "compensation",
                            [
                                Finding(
                                    "compensation-failed",
                                    f"compensation hook {hook.name!r} of stage {record.key!r} "
                                    f"raised {type(exc).__name__}: {exc}",
                                    recommendation="fix the cause and roll back again; "
                                    "compensation hooks must be safe to run twice",
                                )
                            ],
                        )
                        return lifecycle.decide(
                            "rollback",
                            (*rules, failure),
                            now=self._now(),
                            actor=who,
                            stage=key,
                            reason=why,
                            compensations=tuple(ran),
                        )
                    ran.append(f"{record.key}:{hook.name}")
            now = self._now()
            archive, archived = self._archive_outputs(
                spec, run, scope, now, "rollback", moved=moved
            )
            return lifecycle.decide(
                "rollback",
                rules,
                now=now,
                actor=who,
                stage=key,
                reason=why,
                compensations=tuple(ran),
                archive=archive,
                archived=archived,
            )

        return self._operate(feature, decide, moved)

    def abort(self, feature: str, *, reason: str, actor: Optional[str] = None) -> RunState:
        """Abort the run; a copy of every started stage's outputs goes to the archive."""
        why = _require_reason(reason, "abort")

        def decide(spec: WorkflowSpec, run: RunState) -> Event:
            rules = lifecycle.check_abort(spec, run)
            now = self._now()
            fields: dict[str, object] = {}
            if all(v.passed for v in rules):
                started = [r for r in run.stages if r.status is not StageStatus.PENDING]
                archive, archived = self._archive_outputs(spec, run, started, now, "abort")
                fields = {"archive": archive, "archived": archived}
            return lifecycle.decide(
                "abort",
                rules,
                now=now,
                actor=self._actor(actor),
                stage=run.current_stage,
                reason=why,
                **fields,
            )

        return self._operate(feature, decide)

    def stop(
        self, feature: str, *, reason: Optional[str] = None, actor: Optional[str] = None
    ) -> RunState:
        """Stop the run cooperatively: at once when no phase is running, else as soon as
        the running phase ends (until then no other phase can start). A stopped run keeps
        its position; :meth:`resume` goes on from there."""
        why = _check_text(reason.strip(), "reason") or None if reason is not None else None

        def decide(spec: WorkflowSpec, run: RunState) -> Event:
            return lifecycle.decide(
                "stop",
                lifecycle.check_stop(spec, run),
                now=self._now(),
                actor=self._actor(actor),
                stage=run.current_stage,
                reason=why,
            )

        return self._operate(feature, decide)

    def resume(
        self,
        feature: str,
        stage: Optional[StageRef] = None,
        *,
        from_phase: Optional[str] = None,
        config: Optional[Config] = None,
        actor: Optional[str] = None,
    ) -> RunState:
        """Resume a stopped, failed or aborted run where it stopped (``stage``: that stage,
        by default the current one), or call off a stop that is still pending.

        ``from_phase`` names a phase of that stage to go on from: every earlier phase
        must be done (no phase is jumped), and it and the later phases start over.
        ``config`` (reloaded by the caller: :func:`~stageflow.config.load_config`)
        becomes this orchestrator's config, and the stages and phases it switches off or
        puts behind an approval are updated among those not yet done.
        """
        if from_phase is not None and not isinstance(from_phase, str):
            raise UsageError(f"from_phase must be a phase id, not {from_phase!r}")
        if config is not None:
            self.config = config

        def decide(spec: WorkflowSpec, run: RunState) -> Event:
            key = run.current_stage if stage is None else spec.stage(stage).key
            if key is None:
                key = spec.keys[-1]
            if from_phase is not None:
                phase_of(spec, from_phase)  # UnknownPhase: nothing recorded
            skip, approvals = _reconfiguration(spec, run, config)
            return lifecycle.decide(
                "resume",
                lifecycle.check_resume(spec, run, key, from_phase),
                now=self._now(),
                actor=self._actor(actor),
                stage=key,
                phase=from_phase,
                skip=skip,
                approvals=approvals,
            )

        return self._operate(feature, decide)

    # -- approvals ---------------------------------------------------------------------

    def approve(
        self, feature: str, stage: StageRef, *, by: str, note: Optional[str] = None
    ) -> RunState:
        """Approve ``stage``, which is awaiting approval: it is completed and the run moves
        on. ``by`` (who approved) is the event's actor; ``note`` is kept with it. Refused
        (:class:`RuleViolation`, recorded) unless the stage is awaiting approval."""
        return self._decide_approval("approve", feature, stage, by, note)

    def reject(self, feature: str, stage: StageRef, *, by: str, note: str) -> RunState:
        """Reject ``stage``, which is awaiting approval: it goes back to ``in_progress``
        with the feedback (``by``, ``note``, time) kept on the stage and handed to its agent
        by :meth:`context`. Complete it again (through its gates) to ask for approval
        again. ``note`` is required."""
        return self._decide_approval(
            "reject", feature, stage, by, _require_reason(note, "reject", "note")
        )

    def _decide_approval(
        self, operation: str, feature: str, stage: StageRef, by: str, note: Optional[str]
    ) -> RunState:
        who = _check_actor(by)
        if note is not None:
            note = _check_text(note.strip(), "note") or None

        def decide(spec: WorkflowSpec, run: RunState) -> _Applied:
            key = spec.stage(stage).key
            event = lifecycle.decide(
                operation,
                lifecycle.check_approval(spec, run, key, operation),
                now=self._now(),
                actor=who,
                stage=key,
                reason=note,
            )
            # an approved phase may have been the stage's last; a rejected stage goes on
            released = operation == "approve" and waiting_phase(run.stage(key)) is not None
            return self._with_follow_ups(spec, run, [event], key, who, complete=released)

        return self._operate(feature, decide)

    # -- phases ------------------------------------------------------------------------

    def phase_start(self, feature: str, phase: str, *, actor: Optional[str] = None) -> RunState:
        """Start ``phase`` (an id such as ``"2.1"``) of the current stage.

        Refused unless every earlier enabled phase of the stage that is not ``inline`` is
        completed; earlier ``inline`` phases are completed now. A failed phase can be
        started again.
        """
        return self._phase("phase_start", feature, phase, actor)

    def phase_complete(
        self,
        feature: str,
        phase: str,
        *,
        summary: Optional[str] = None,
        plan_file: Optional[str] = None,
        actor: Optional[str] = None,
    ) -> RunState:
        """Complete ``phase`` of the current stage, with its ``summary``.

        ``plan_file`` (a path relative to the project root, typically given by phase 1.2
        Write Plan) becomes the run's :attr:`~stageflow.run.RunState.plan_file`. Refused
        while an earlier enabled phase of the stage that is not ``inline`` is incomplete.
        When no such phase is left, the stage is completed too, through its gates, as
        :meth:`complete` would (:class:`GateFailed` if they fail; fix and complete the stage).
        """
        if summary is not None:
            _check_text(summary, "summary")
        if plan_file is not None:
            problem = output_path_problem(_check_text(plan_file, "plan file"))
            if problem is None and any(c in plan_file for c in "*?["):
                problem = f"plan file {plan_file!r} must be a path, not a pattern"
            if problem:
                raise UsageError(problem.replace("output path", "plan file"))
        return self._phase(
            "phase_complete", feature, phase, actor, summary=summary, plan_file=plan_file
        )

    def phase_fail(
        self, feature: str, phase: str, *, reason: str, actor: Optional[str] = None
    ) -> RunState:
        """Mark ``phase`` failed, and with it its stage and the run; resume the stage, then
        start the phase again."""
        return self._phase(
            "phase_fail", feature, phase, actor, reason=_require_reason(reason, "fail")
        )

    def _phase(
        self,
        operation: str,
        feature: str,
        phase: str,
        actor: Optional[str],
        *,
        summary: Optional[str] = None,
        plan_file: Optional[str] = None,
        reason: Optional[str] = None,
    ) -> RunState:
        def decide(spec: WorkflowSpec, run: RunState) -> _Applied:
            stage, _ = phase_of(spec, phase)
            event = lifecycle.decide(
                operation,
                lifecycle.check_phase(spec, run, operation, phase),
                now=self._now(),
                actor=self._actor(actor),
                stage=stage.key,
                reason=reason,
                phase=phase,
                summary=summary,
                plan_file=plan_file,
            )
            return self._with_follow_ups(spec, run, [event], stage.key, actor)

        return self._operate(feature, decide)

    def review(
        self,
        feature: str,
        phase: str,
        result: ReviewResult,
        *,
        policy: Optional[ReviewPolicy] = None,
        actor: Optional[str] = None,
    ) -> RunState:
        """Record one attempt of the review phase ``phase`` and decide what follows.

        The decision (kept in the event's :attr:`~stageflow.run.Event.review`, and on the
        phase) follows ``policy`` (default: from this orchestrator's config, see
        :meth:`~stageflow.review.ReviewPolicy.from_config`, else :class:`ReviewPolicy`'s
        defaults): ``passed`` completes the phase; ``retry`` keeps it in progress for the
        fixer and another review; when retries run out, ``continue`` completes it with the
        issues left in its summary, ``block`` makes the run wait for a person
        (:meth:`approve` accepts the phase, :meth:`reject` gives it a new round) and
        ``fail`` fails the phase, its stage and the run. :func:`stageflow.review.run_review`
        drives the whole loop.
        """
        if not isinstance(result, ReviewResult):
            raise UsageError(f"a review result must be a ReviewResult, not {result!r}")
        if policy is not None and not isinstance(policy, ReviewPolicy):
            raise UsageError(f"a review policy must be a ReviewPolicy, not {policy!r}")

        def decide(spec: WorkflowSpec, run: RunState) -> _Applied:
            stage, _ = phase_of(spec, phase)
            rules = lifecycle.check_review(spec, run, phase)
            fields: Dict[str, Any] = {}
            if all(v.passed for v in rules):
                used = policy or self.review_policy(stage.key, phase)
                attempt = run.stage(stage.key).phase(phase).attempts + 1
                decision = decide_review(result, used, attempt)
                summary = review_summary(result, used, attempt)
                fields["review"] = ReviewRecord(attempt, result, used, decision)
                if decision == "fail":
                    fields["reason"] = summary
                elif decision != "retry":
                    fields["summary"] = summary
            event = lifecycle.decide(
                "review",
                rules,
                now=self._now(),
                actor=self._actor(actor),
                stage=stage.key,
                phase=phase,
                **fields,
            )
            return self._with_follow_ups(spec, run, [event], stage.key, actor)

        return self._operate(feature, decide)

    def review_policy(self, stage: str, phase: str) -> ReviewPolicy:
        """The policy of review phase ``phase`` of ``stage`` by this orchestrator's config."""
        if self.config is None:
            return ReviewPolicy()
        return ReviewPolicy.from_config(self.config, stage, phase)

    def _with_follow_ups(
        self,
        spec: WorkflowSpec,
        run: RunState,
        events: List[Event],
        key: str,
        actor: Optional[str],
        *,
        complete: bool = True,
    ) -> _Applied:
        """``events`` and what they lead to, applied: the stage completed (through its
        gates) once its phases are done (with ``complete``), then a pending stop carried
        out once no phase runs."""
        batch = list(events)
        after = run
        for event in batch:
            after = lifecycle.apply(spec, after, event)

        def then(event: Event) -> None:
            nonlocal after
            batch.append(event)
            after = lifecycle.apply(spec, after, event)

        if batch[-1].outcome is not Outcome.APPLIED or after.status is not RunStatus.ACTIVE:
            return _Applied(tuple(batch), after)
        record = after.stage(key)
        if complete and record.status is StageStatus.IN_PROGRESS and stage_is_done(record):
            completion = self._decide_complete(spec, after, key, False, None, (), actor)
            then(completion)
            if completion.outcome is not Outcome.APPLIED:
                return _Applied(tuple(batch), after)
        request = after.stop_request
        current = after.current_stage
        if (
            request is not None
            and after.status is RunStatus.ACTIVE
            and current is not None
            and running_phase(after.stage(current)) is None
        ):
            then(
                lifecycle.decide(
                    "stop",
                    (),
                    now=self._now(),
                    actor=request.by,
                    stage=current,
                    reason=request.reason,
                )
            )
        return _Applied(tuple(batch), after)

    # -- plumbing ----------------------------------------------------------------------

    def _real_problem(self, path: Path) -> Optional[str]:
        """Why ``path``, once symbolic links are resolved, cannot be an output (or ``None``)."""
        real_root = os.path.realpath(self.root)
        real = os.path.realpath(path)
        if real == real_root:
            return f"output {path.name!r} resolves to the project root itself"
        if os.path.commonpath([real_root, real]) != real_root:
            return f"output {path.name!r} resolves outside the project root"
        return output_path_problem(Path(os.path.relpath(real, real_root)).as_posix())

    def _actor(self, actor: Optional[str]) -> str:
        return self.actor if actor is None else _check_actor(actor)

    def _now(self) -> datetime:
        """The clock's time in UTC, whatever zone the clock reports in."""
        now = self.clock.now()
        if now.tzinfo is None:
            raise UsageError("the clock must return timezone-aware datetimes")
        return now.astimezone(timezone.utc)

    def _operate(
        self,
        feature: str,
        decide: Callable[[WorkflowSpec, RunState], _Decided],
        moved: Optional[List[Tuple[Path, Path]]] = None,
    ) -> RunState:
        """Load, decide (one event, or several applied in order), save. If saving fails,
        files ``decide`` moved are moved back."""
        check_feature_name(feature)
        with self.store.lock(feature):
            stored = self._latest(feature)
            spec, run = self._decode(stored, feature)
            event = decide(spec, run)
            try:
                new, refused = self._save_refusal(spec, run, event, stored)
                if refused is None:
                    assert new is not None
                    return new
            except BaseException:
                for source, target in reversed(moved or ()):
                    source.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(str(target), str(source))
                raise
        # Raised once the lock is released: a transactional store has committed the
        # refused event by then (an exception inside the lock would roll it back).
        raise refused

    def _save_refusal(
        self,
        spec: WorkflowSpec,
        run: RunState,
        events: _Decided,
        stored: StoredRun,
    ) -> Tuple[Optional[RunState], Optional[Refused]]:
        """:meth:`_save`: ``(new state, None)``, or ``(None, the refusal it raised)``."""
        try:
            return self._save(spec, run, events, stored), None
        except Refused as exc:
            return None, exc

    def _save(
        self,
        spec: WorkflowSpec,
        run: RunState,
        events: _Decided,
        stored: StoredRun,
    ) -> RunState:
        """Apply ``events`` in order (unless already applied) and save once; raise for the
        last one unless applied."""
        if isinstance(events, _Applied):
            batch, new = events.events, events.state
        else:
            batch = (events,) if isinstance(events, Event) else tuple(events)
            new = run
            for one in batch:
                new = lifecycle.apply(spec, new, one)
        event = batch[-1]
        document = run_to_document(new)
        # Never write what the reader would refuse (a bug or an odd gate must not brick a run).
        check_before_write(document, stored.location, len(batch))
        revision = self.store.save(run.feature, run.run, document, stored.revision)
        new = self._as_stored(new)
        self._remember((stored.location, revision), spec, new)
        if event.outcome is Outcome.APPLIED:
            return new
        recorded = new.history[-1]
        error: type[Refused] = GateFailed if event.outcome is Outcome.FAILED else RuleViolation
        stage_text = f" stage {spec.number(event.stage)} ({event.stage})" if event.stage else ""
        if event.phase is not None:
            stage_text = f" phase {event.phase} of{stage_text}"
        findings = recorded.findings
        verb = "failed its gates" if error is GateFailed else "was refused"
        errors = sum(1 for f in findings if f.is_error)
        raise error(
            f"{event.operation}{stage_text} {verb} ({errors} error{'s' if errors != 1 else ''})",
            operation=event.operation,
            feature=run.feature,
            stage=event.stage,
            findings=findings,
            run=new,
        )

    def _archive_outputs(
        self,
        spec: WorkflowSpec,
        run: RunState,
        records: Iterable[StageRecord],
        now: datetime,
        operation: str,
        *,
        moved: Optional[List[Tuple[Path, Path]]] = None,
    ) -> Tuple[Optional[str], Tuple[str, ...]]:
        """Move (when ``moved`` is given: rollback) or copy (abort) the outputs of ``records``
        under ``.tmp/archive/{feature}/{timestamp}-{operation}/``, keeping their relative
        paths. Each move is appended to ``moved`` so that it can be undone."""
        paths: List[Path] = []
        for record in records:
            key = record.key
            context = self._context(spec, run, key, record.outputs)
            patterns = list(context.declared_outputs) + list(context.outputs)
            for pattern in patterns:
                for found in match_output(self.root, pattern):
                    # Never archive the project, .git or stageflow's own state, even
                    # through a symbolic link.
                    inside = found.relative_to(self.root).as_posix()
                    if (
                        found not in paths
                        and output_path_problem(inside) is None
                        and self._real_problem(found) is None
                    ):
                        paths.append(found)
        if not paths:
            return None, ()
        stamp = now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        folder = Path(".tmp", "archive", run.feature, f"{stamp}-{operation}")
        suffix = 1
        while (self.root / folder).exists():  # a coarse clock: never mix two archives
            suffix += 1
            folder = Path(".tmp", "archive", run.feature, f"{stamp}-{operation}-{suffix}")
        archived: List[str] = []
        for path in sorted(paths):
            if not path.exists():  # already moved with a folder
                continue
            relative = path.relative_to(self.root)
            target = self.root / folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if moved is not None:
                shutil.move(str(path), str(target))
                moved.append((path, target))
                fsync_dir(str(path.parent))
                fsync_dir(str(target.parent))
            elif path.is_dir() and not path.is_symlink():
                shutil.copytree(str(path), str(target), symlinks=True, dirs_exist_ok=True)
            else:
                shutil.copy2(str(path), str(target), follow_symlinks=False)
            archived.append(relative.as_posix())
        return folder.as_posix(), tuple(archived)


def _reconfiguration(
    spec: WorkflowSpec, run: RunState, config: Optional[Config]
) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    """What a reloaded ``config`` changes in ``run``: the stages and phases not started yet
    that it switches off, and the open ones it puts behind an approval. Switching off what
    a later stage needs is a :class:`UsageError`, as it is when a run starts."""
    if config is None:
        return (), ()
    pending = {r.key for r in run.stages if r.status is StageStatus.PENDING}
    pending |= {p.id for r in run.stages for p in r.phases if p.status is StageStatus.PENDING}
    skip = tuple(name for name in config.disabled(spec) if name in pending)
    if skip:
        skipped = [r.key for r in run.stages if r.status is StageStatus.SKIPPED]
        skipped += [p.id for r in run.stages for p in r.phases if p.status is StageStatus.SKIPPED]
        off = {s.key for s in spec.stages if not s.enabled}
        off |= {p.id for s in spec.stages for p in s.phases if not p.enabled}
        effective_spec(spec, [n for n in skipped if n not in off] + list(skip))  # or UsageError
    open_names = {r.key for r in run.stages if r.status not in DONE and not r.approval}
    open_names |= {
        p.id for r in run.stages for p in r.phases if p.status not in DONE and not p.approval
    }
    approvals = tuple(name for name in config.approvals(spec) if name in open_names)
    return skip, approvals


def _check_actor(actor: object) -> str:
    if not isinstance(actor, str) or not actor.strip():
        raise UsageError(f"an actor must be a non-empty string, not {actor!r}")
    return _check_text(actor, "actor")


def _check_text(text: str, what: str) -> str:
    """``text`` if it can be stored as UTF-8 (command lines may carry undecodable bytes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"the {what} is not valid UTF-8 text: {text!r}") from None
    return text


def _storable_name(path: str) -> str:
    """A file name as storable text: undecodable bytes are written as escapes."""
    return path.encode("utf-8", "backslashreplace").decode("utf-8")


def _a(word: str) -> str:
    """``word`` with its indefinite article: "an active", "a failed"."""
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _require_reason(reason: Optional[str], operation: str, what: str = "reason") -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise UsageError(f"{operation} needs a non-empty {what}")
    return _check_text(reason.strip(), "reason")

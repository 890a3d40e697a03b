"""``stageflow demo``: a sample feature walked through every stage of the 8-stage workflow.

The artifacts are the seed's order-management example (:mod:`stageflow.examples`),
checked by the real content gates. The walk shows a completion refused by a gate (with its
findings), an override of the seed's rounded RICE score with a justification, a refused
override of the contract gate (the seed's only contract covers none of its integration
points), a rollback (with its outputs archived) and the final status. It writes only
inside the folder it is given. Subtasks are marked completed by writing their files
directly (atomically), standing in for an executor.

:func:`write_outputs` writes a stage's example artifacts; tests use it to walk the 8
stages through their gates.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from ._fileio import write_atomic
from .engine import Orchestrator
from .errors import GateFailed, NotFound, UsageError
from .examples import ORDER_MANAGEMENT
from .executor import ExecutionEvent, ExecutionReport, TaskContext
from .gates import Registry, StageContext
from .run import RunState
from .workflow import EIGHT_STAGE, WorkflowSpec

__all__ = ["DEMO_FEATURE", "run_demo", "write_outputs"]

DEMO_FEATURE = "order-management"
_EXAMPLE_TASKS = ORDER_MANAGEMENT / "order-management-mvp"
_DONE_AT = "2026-02-15T12:00:00Z"


def _load(name: str) -> Any:
    return json.loads((ORDER_MANAGEMENT / name).read_text(encoding="utf-8"))


def _write(root: Path, relative: str, content: Any) -> str:
    text = content if isinstance(content, str) else json.dumps(content, indent=2) + "\n"
    write_atomic(str(root / relative), text.encode("utf-8"))
    return relative


def _where(workflow: WorkflowSpec, artifact: str, feature: str) -> str:
    output = workflow.artifact(artifact)
    path = output.resolve(feature) if output is not None else None
    if path is None:
        raise UsageError(f"workflow {workflow.name!r} declares no artifact {artifact!r}")
    return path


def integration_contracts(contexts: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """One contract per context relationship of ``contexts``, by contract id.

    Each follows the matching rule of the Contract Definition gate: ``bounded_context`` is
    the relationship's upstream, and its downstream is a consumer.
    """
    contracts = {}
    for rel in contexts.get("context_relationships", ()):
        cid = f"{rel['upstream']}-{rel['downstream']}"
        contracts[cid] = {
            "contract_id": cid,
            "version": "1.0.0",
            "bounded_context": rel["upstream"],
            "description": rel.get("description", ""),
            "consumers": [{"name": rel["downstream"]}],
            "providers": [{"name": rel["upstream"]}],
        }
    return contracts


def write_outputs(
    root: Path,
    stage: str,
    feature: str = DEMO_FEATURE,
    *,
    verbatim: bool = False,
    workflow: WorkflowSpec = EIGHT_STAGE,
) -> List[str]:
    """Write the order-management example's artifacts of ``stage``; return their paths.

    The files pass the stage's content gate. With ``verbatim``, the seed's documents are
    written as published, with their inconsistencies: the rounded RICE score of the backlog,
    and only the seed's contract, which covers no integration point. Task ids are renamed
    to ``feature``. The ``execution`` stage marks every subtask completed and writes a stub
    of each deliverable; ``workflow`` says where the artifacts live.
    """
    written: List[str] = []
    if stage in ("architecture", "stories"):
        name, artifact = {
            "architecture": ("contexts.json", "contexts"),
            "stories": ("map.json", "story-map"),
        }[stage]
        document = dict(_load(name), feature=feature)
        written.append(_write(root, _where(workflow, artifact, feature), document))
    elif stage == "prioritization":
        backlog = _load("prioritized.json")
        if not verbatim:  # the seed rounds this score: 50000 * 2 * 80 / 100 / 0.3
            backlog["mvp_features"][1]["rice_score"]["score"] = 266666.67
        written.append(_write(root, _where(workflow, "backlog", feature), backlog))
    elif stage == "tasks":
        folder = f".tmp/tasks/{feature}"
        for path in sorted(_EXAMPLE_TASKS.iterdir()):
            document = json.loads(path.read_text(encoding="utf-8"))
            document["id"] = feature if path.name == "task.json" else f"{feature}-{document['seq']}"
            written.append(_write(root, f"{folder}/{path.name}", document))
    elif stage == "contracts":
        contracts = {"order-api": _load("contract.json")}
        if not verbatim:
            contracts.update(integration_contracts(_load("contexts.json")))
        base = _where(workflow, "contracts", feature).split("*", 1)[0].rstrip("/")
        for cid, contract in contracts.items():
            written.append(_write(root, f"{base}/{cid}/contract.json", contract))
    elif stage == "execution":
        written.extend(_execute(root, feature, workflow)[0])
    elif stage == "integration":
        report = "# Validation report\n\nStatus: passed\n\nIntegration tests: 4 of 4 passed.\n"
        written.append(_write(root, _where(workflow, "validation-report", feature), report))
    elif stage == "release":
        notes = "# Release notes\n\nCustomers can place orders and track them.\n"
        lessons = "# Lessons learned\n\nDefining contracts first paid off.\n"
        written.append(_write(root, _where(workflow, "release-notes", feature), notes))
        written.append(_write(root, _where(workflow, "lessons-learned", feature), lessons))
    return written


class _SimulatedAgent:
    """The demo's worker: writes a stub of each deliverable that is a relative path inside
    ``root`` (a folder for one ending in ``/``), and reports what it wrote."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, subtask: Dict[str, Any], context: TaskContext) -> str:
        made = 0
        for entry in subtask.get("deliverables") or ():
            if not isinstance(entry, str) or os.path.isabs(entry) or ".." in entry.split("/"):
                continue
            target = self.root / entry
            if entry.endswith("/"):
                target.mkdir(parents=True, exist_ok=True)
            elif not target.exists():
                _write(self.root, entry, f"sample deliverable of subtask {context.seq}: {entry}\n")
            made += 1
        return f"simulated agent wrote {made} deliverable{'' if made == 1 else 's'}"


def _execute(
    root: Path,
    feature: str,
    workflow: WorkflowSpec = EIGHT_STAGE,
    on_event: Optional[Callable[[ExecutionEvent], None]] = None,
) -> Tuple[List[str], Optional[ExecutionReport]]:
    """Run Stage 6 of ``feature`` with the executor and the simulated agent.

    Writes the batch completion summary where ``workflow`` puts it; returns the files
    written (the summary, then each subtask file) and the report (``None`` when the
    feature has no task files).
    """
    from .executor import execute
    from .graph import DependencyCycleError
    from .planner import PlanError
    from .tracker import TaskTracker

    tracker = TaskTracker(root=root)
    summary = _where(workflow, "execution-summary", feature)
    try:
        report = execute(
            tracker, feature, _SimulatedAgent(root), concurrency=4, backoff=0, on_event=on_event
        )
    except NotFound:  # no task files: nothing to execute (the gate will say so)
        return [_write(root, summary, f"# Execution of {feature}\n\nNo task files.\n")], None
    except (PlanError, DependencyCycleError) as exc:  # unusable task files: the gate says why
        text = f"# Execution of {feature}\n\nNot run: {exc}\n"
        return [_write(root, summary, text)], None
    written = [_write(root, summary, report.to_markdown())]
    for file in tracker.load(feature).subtasks:
        if file.seq in report.completed:
            written.append(file.location)
    return written, report


def run_demo(
    folder: str | os.PathLike[str],
    say: Callable[[str], None] = print,
    *,
    actor: str = "demo",
) -> Dict[str, Any]:
    """Walk the demo feature through all stages in ``folder``; return a JSON-ready summary."""
    root = Path(folder)
    if root.exists() and not root.is_dir():
        raise UsageError(f"the demo needs a new or empty folder; {root} is not a folder")
    if root.exists() and any(root.iterdir()):
        raise UsageError(f"the demo needs a new or empty folder; {root} is not empty")
    root.mkdir(parents=True, exist_ok=True)
    (root / ".git").mkdir(exist_ok=True)  # make the folder a project root for the CLI
    registry = Registry()
    undeployed: List[str] = []

    def undeploy(context: StageContext) -> None:
        undeployed.append(context.feature)

    registry.add_compensation("release", undeploy, name="undeploy")
    flow = Orchestrator(root=root, registry=registry, actor=actor)
    steps: List[Dict[str, Any]] = []

    def step(action: str, run: RunState, detail: str = "", **extra: Any) -> None:
        steps.append(
            {"action": action, "status": run.status.value, "stage": run.current_stage, **extra}
        )
        say(f"- {action}: {detail or run.status.value}")

    feature = DEMO_FEATURE
    say(f"Demo project: {root}")
    run = flow.init(feature)
    step("init", run, f"run #{run.run} started at stage 1 ({run.current_stage})")

    try:
        flow.complete(feature, "architecture")
    except GateFailed as refused:
        codes = [f.code for f in refused.findings if f.is_error]
        step("complete architecture (no outputs yet)", refused.run, "refused", findings=codes)
        for finding in refused.findings:
            if not finding.is_error:
                continue
            say(f"    {finding.code}: {finding.message}")
            if finding.recommendation:
                say(f"      -> {finding.recommendation}")

    def produce_and_complete(stage: str) -> RunState:
        write_outputs(root, stage, feature)
        done = flow.complete(feature, stage)
        step(f"complete {stage}", done, f"completed; now at {done.current_stage or 'the end'}")
        return done

    for stage in ("architecture", "stories"):
        run = produce_and_complete(stage)

    write_outputs(root, "prioritization", feature, verbatim=True)
    justification = "the seed rounds one RICE score to a whole number; the ranking holds"
    run = flow.complete(feature, "prioritization", override=True, reason=justification)
    overridden = run.stage("prioritization").override
    codes = [f.code for f in overridden.findings] if overridden else []
    step(
        "complete prioritization with override",
        run,
        f"overridden ({', '.join(codes)}): {justification}",
        findings=codes,
    )

    run = produce_and_complete("tasks")

    write_outputs(root, "contracts", feature, verbatim=True)
    try:
        flow.complete(feature, "contracts", override=True, reason="we will write them later")
    except GateFailed as refused:
        codes = [f.code for f in refused.findings if f.is_error]
        step(
            "complete contracts with override (not overridable)",
            refused.run,
            "refused",
            findings=codes,
        )
        for finding in refused.findings:
            if finding.is_error:
                say(f"    {finding.code}: {finding.message}")

    run = produce_and_complete("contracts")

    def execute_stage(action: str) -> RunState:
        from .progress import ProgressLines

        report = _execute(root, feature, on_event=ProgressLines(lambda line: say(f"    {line}")))[1]
        assert report is not None  # the tasks stage wrote the task files
        executions.append(report.to_dict())
        done = flow.complete(feature, "execution")
        step(
            action,
            done,
            f"{len(report.completed)} run, {len(report.already_completed)} completed before; "
            f"now at {done.current_stage}",
            executed=list(report.completed),
        )
        return done

    from .tracker import TaskTracker

    tracker = TaskTracker(root=root)
    plan = tracker.plan(feature)
    say(f"- batch plan of {feature} ({len(plan.batches)} batches):")
    for batch in plan.batches:
        say(f"    Batch {batch.number}: [{', '.join(batch.seqs)}]")
    executions: List[Dict[str, Any]] = []
    run = execute_stage("execute the subtasks and complete execution")

    missed = plan.batches[-2].seqs[0]
    run = flow.rollback(feature, "execution", reason="integration found a missed subtask")
    tracker.reopen(feature, missed, "integration found it incomplete")
    archived = run.history[-1].archived
    step(
        "rollback to execution",
        run,
        f"outputs archived: {', '.join(archived)}; subtask {missed} reopened",
        archived=list(archived),
    )
    run = execute_stage("execute again (only the reopened subtask runs)")

    for stage in ("integration", "release"):
        run = produce_and_complete(stage)

    say("")
    from ._render import status_text, status_view
    from .serde import run_to_document

    view = status_view(run_to_document(run))
    say(status_text(view))
    counts = tracker.summary(feature)
    say(
        f"Summary: {view['progress']['completed']} of {view['progress']['total']} stages "
        "completed; "
        f"{counts['counts']['completed']} of {counts['subtask_count']} subtasks completed "
        f"in {len(plan.batches)} batches; the files are in {root}"
    )
    return {
        "root": str(root),
        "feature": feature,
        "plan": plan.to_dict()["batches"],
        "executions": executions,
        "steps": steps,
        "status": view,
    }


def default_folder() -> str:
    """A new temporary folder for the demo."""
    import tempfile

    return tempfile.mkdtemp(prefix="stageflow-demo-")

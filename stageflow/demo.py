"""``stageflow demo``: a sample feature walked through every stage of the 8-stage workflow.

The walk shows one completion refused by a gate (with its findings), one override with a
justification, one rollback (with its outputs archived) and the final status. It writes
only inside the folder it is given.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Dict, List

from .engine import Orchestrator
from .errors import GateFailed, UsageError
from .gates import Registry, StageContext
from .run import RunState

__all__ = ["DEMO_FEATURE", "run_demo"]

DEMO_FEATURE = "order-management"

_OUTPUTS: Dict[str, Dict[str, Any]] = {
    "architecture": {
        ".tmp/tasks/{f}/contexts.json": {
            "contexts": [
                {"name": "orders", "relationships": [{"to": "payments", "type": "upstream"}]},
                {"name": "payments", "relationships": []},
            ]
        }
    },
    "stories": {
        ".tmp/planning/{f}/map.json": {
            "stories": [{"id": "S1", "title": "Place an order", "acceptance_criteria": ["ok"]}]
        }
    },
    "tasks": {
        ".tmp/tasks/{f}/task.json": {"id": "{f}", "name": "Order management", "subtask_count": 1},
        ".tmp/tasks/{f}/subtask_01.json": {"id": "{f}-01", "seq": "01", "title": "Cart"},
    },
    "contracts": {".tmp/contracts/{f}/order-api/contract.json": {"name": "order-api"}},
    "execution": {".tmp/execution/{f}/summary.md": "# Batches\n\nBatch 1: [01] completed\n"},
    "integration": {".tmp/validation/{f}-report.md": "# Validation report\n\nStatus: passed\n"},
    "release": {
        ".tmp/releases/{f}/release-notes.md": "# Release notes\n\nOrders can be placed.\n",
        "docs/retrospectives/{f}.md": "# Lessons learned\n\nContracts first paid off.\n",
    },
}


def write_outputs(root: Path, stage: str, feature: str = DEMO_FEATURE) -> List[str]:
    """Write the sample outputs of ``stage``; return their relative paths."""
    written = []
    for pattern, content in _OUTPUTS.get(stage, {}).items():
        relative = pattern.replace("{f}", feature)
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            text = content
        else:
            text = json.dumps(content, indent=2).replace("{f}", feature) + "\n"
        path.write_text(text, encoding="utf-8")
        written.append(relative)
    return written


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
        codes = [f.code for f in refused.findings]
        step("complete architecture (no outputs yet)", refused.run, "refused", findings=codes)
        for finding in refused.findings:
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

    justification = "backlog is prioritised in the team's tracker this sprint"
    run = flow.complete(feature, "prioritization", override=True, reason=justification)
    step("complete prioritization with override", run, f"overridden: {justification}")

    for stage in ("tasks", "contracts", "execution"):
        run = produce_and_complete(stage)

    run = flow.rollback(feature, "execution", reason="integration found a missed subtask")
    archived = run.history[-1].archived
    step(
        "rollback to execution",
        run,
        f"outputs archived: {', '.join(archived)}",
        archived=list(archived),
    )

    for stage in ("execution", "integration", "release"):
        run = produce_and_complete(stage)

    say("")
    from ._render import status_text, status_view
    from .serde import run_to_document

    view = status_view(run_to_document(run))
    say(status_text(view))
    return {"root": str(root), "feature": feature, "steps": steps, "status": view}


def default_folder() -> str:
    """A new temporary folder for the demo."""
    import tempfile

    return tempfile.mkdtemp(prefix="stageflow-demo-")

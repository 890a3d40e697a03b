"""Views of run documents for people (text) and programs (JSON-ready dicts).


Everything here works on *checked run documents* (plain dicts), not on attrs values, so
read-only CLI commands never import the heavy parts of stageflow. The Python API reaches
the same views through :func:`stageflow.serde.run_to_document`.
"""

from __future__ import annotations

# typing is imported only by type checkers: this module is on the CLI's fast path.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, List, Optional

_MARKS = {
    "completed": "[x]",
    "in_progress": "[>]",
    "failed": "[!]",
    "pending": "[ ]",
    "skipped": "[-]",
    "awaiting_approval": "[~]",
}
_PHASE_FIELDS = (
    "id",
    "name",
    "kind",
    "status",
    "started_at",
    "completed_at",
    "failed_at",
    "summary",
    "error",
)
_PHASE_EXTRAS = (("approval", False), ("feedback", ()), ("attempts", 0), ("review", None))


def finding_to_dict(finding: Any) -> Dict[str, Any]:
    """A finding (attrs value or dict) as a JSON-ready dict."""
    if isinstance(finding, dict):
        return dict(finding)
    severity = finding.severity
    return {
        "code": finding.code,
        "message": finding.message,
        "severity": getattr(severity, "value", severity),
        "path": finding.path,
        "pointer": finding.pointer,
        "recommendation": finding.recommendation,
    }


def stage_number(doc: Dict[str, Any], key: Optional[str]) -> Optional[int]:
    for stage in doc["stages"]:
        if stage["key"] == key:
            return int(stage["number"])
    return None


def next_phase(doc: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The phase of the current stage to work on next (or waiting for approval): the first
    enabled one that is not completed, ``inline`` phases aside (they complete as the next
    phase starts)."""
    current = doc["current_stage"]
    for stage in doc["stages"]:
        if stage["key"] == current:
            for phase in stage.get("phases", ()):
                if phase["kind"] != "inline" and phase["status"] not in ("completed", "skipped"):
                    return dict(phase)
    return None


def next_action(doc: Dict[str, Any]) -> Optional[str]:
    """What to do next with this run, as a command line (``None`` once it is completed)."""
    feature, status, current = doc["feature"], doc["status"], doc["current_stage"]
    number = stage_number(doc, current)
    if status == "active":
        phase = next_phase(doc)
        if phase is not None:
            if phase["kind"] == "dispatch":
                return f"stageflow task run {feature} --command CMD --phase {phase['id']}"
            if phase["kind"] == "command":
                return f"stageflow phase run {feature} {phase['id']}"
            if phase["status"] != "in_progress":
                verb = "start"
            else:
                verb = "review" if phase["kind"] == "review" else "complete"
            return f"stageflow phase {verb} {feature} {phase['id']}"
        return f"stageflow stage complete {feature} {number}"
    if status in ("failed", "aborted"):
        return f"stageflow stage resume {feature} {number}"
    if status == "stopped":
        return f"stageflow stage resume {feature}"
    if status == "awaiting_approval":
        return f"stageflow stage approve {feature} {number} --by NAME"
    return None


def status_view(doc: Dict[str, Any]) -> Dict[str, Any]:
    """The ``stage status --json`` document for a checked run document."""
    stages = doc["stages"]
    completed = sum(1 for s in stages if s["status"] == "completed")
    skipped = sum(1 for s in stages if s["status"] == "skipped")
    total = len(stages) - skipped
    current = doc["current_stage"]
    upcoming = next_phase(doc)
    return {
        "feature": doc["feature"],
        "run": doc["run"],
        "workflow": doc["workflow"],
        "status": doc["status"],
        "current_stage": stage_number(doc, current),
        "current_stage_key": current,
        "created_at": doc["created_at"],
        "updated_at": doc["updated_at"],
        "ended_at": doc["ended_at"],
        "progress": {
            "completed": completed,
            "total": total,
            "percent": round(100 * completed / total) if total else 100,
            "skipped": skipped,
        },
        "current_phase": None if upcoming is None else upcoming["id"],
        "plan_file": doc.get("plan_file"),
        "stop_request": doc.get("stop_request"),
        "stopped_at": doc.get("stopped_at"),
        "next_action": next_action(doc),
        "stages": [
            {
                "number": s["number"],
                "key": s["key"],
                "name": s["name"],
                "status": s["status"],
                "started_at": s["started_at"],
                "completed_at": s["completed_at"],
                "failed_at": s["failed_at"],
                "outputs": s["outputs"],
                "findings": s["findings"],
                "error": s["error"],
                "override": s["override"],
                "summary": s.get("summary"),
                "phases": [
                    {
                        **{k: p[k] for k in _PHASE_FIELDS},
                        **{k: p.get(k, default) for k, default in _PHASE_EXTRAS},
                    }
                    for p in s.get("phases", ())
                ],
                "approval": s.get("approval", False),
                "feedback": [dict(f) for f in s.get("feedback", ())],
            }
            for s in stages
        ],
    }


def findings_text(findings: Iterable[Any], indent: str = "  ") -> List[str]:
    """Lines describing findings: severity, code, message, path, recommendation."""
    lines = []
    for raw in findings:
        f = finding_to_dict(raw)
        where = f" [{f['path']}]" if f.get("path") else ""
        lines.append(f"{indent}{f['severity']}: {f['code']}: {f['message']}{where}")
        if f.get("recommendation"):
            lines.append(f"{indent}  -> {f['recommendation']}")
    return lines


def status_text(view: Dict[str, Any]) -> str:
    """Human-readable status of a run (from :func:`status_view`)."""
    progress = view["progress"]
    skipped = f", {progress['skipped']} skipped" if progress.get("skipped") else ""
    lines = [
        f"[{view['feature']}] workflow {view['workflow']}, run #{view['run']}: {view['status']}",
        f"Progress: {progress['completed']}/{progress['total']} stages completed "
        f"({progress['percent']}%){skipped}",
    ]
    if view["current_stage"] is not None:
        name = next(s["name"] for s in view["stages"] if s["key"] == view["current_stage_key"])
        lines.append(f"Current stage: {view['current_stage']} ({name})")
    if view.get("current_phase"):
        lines.append(f"Current phase: {view['current_phase']}")
    if view.get("plan_file"):
        lines.append(f"Plan file: {view['plan_file']}")
    waiting = next(
        (
            p
            for s in view["stages"]
            if s["key"] == view["current_stage_key"]
            for p in s["phases"]
            if p["status"] == "awaiting_approval"
        ),
        None,
    )
    if view["status"] == "awaiting_approval" and waiting is not None:
        lines.append(
            f"Awaiting approval: phase {waiting['id']} ({waiting['name']}) of stage "
            f"{view['current_stage']}; approve it to go on, or reject it with a note"
        )
    elif view["status"] == "awaiting_approval":
        lines.append(
            f"Awaiting approval: stage {view['current_stage']} passed its gates; approve it "
            "to move on, or reject it with a note"
        )
    if view.get("stop_request"):
        asked = view["stop_request"]
        lines.append(
            f"Stop requested by {asked['by']} at {asked['at']}: the run stops when the "
            "running phase ends"
        )
    if view["status"] == "stopped" and view.get("stopped_at"):
        lines.append(f"Stopped at {view['stopped_at']}; resume to go on")
    lines.append("")
    for stage in view["stages"]:
        current = stage["key"] == view["current_stage_key"]
        mark = (
            "[>]"
            if current and stage["status"] == "pending"
            else _MARKS.get(stage["status"], "[?]")
        )
        needs = " (needs approval)" if stage.get("approval") else ""
        lines.append(
            f"  {mark} {stage['number']}. {stage['name']} ({stage['key']}) - "
            f"{stage['status']}{needs}"
        )
        for label in ("started_at", "completed_at", "failed_at"):
            if stage[label]:
                lines.append(f"        {label.replace('_at', '')}: {stage[label]}")
        if stage["error"]:
            lines.append(f"        error: {stage['error']}")
        if stage["override"]:
            o = stage["override"]
            lines.append(f"        overridden by {o['actor']}: {o['justification']}")
        for given in stage.get("feedback", ()):
            note = f": {given['note']}" if given.get("note") else ""
            lines.append(f"        {given['decision']} by {given['by']} at {given['at']}{note}")
        if stage["status"] == "failed":
            lines.extend(findings_text(stage["findings"], indent="        "))
        for phase in stage.get("phases", ()):
            mark = _MARKS.get(phase["status"], "[?]")
            what = f"{phase['id']} {phase['name']} ({phase['kind']})"
            needs = " (needs approval)" if phase.get("approval") else ""
            lines.append(f"        {mark} {what} - {phase['status']}{needs}")
            last = phase.get("review")
            if last is not None:
                lines.append(
                    f"              review {last['attempt']}: {last['decision']} "
                    f"({len(last['result']['issues'])} issues, "
                    f"blocking from {last['policy']['block_on']})"
                )
            if phase["error"]:
                lines.append(f"              error: {phase['error']}")
    if view["next_action"]:
        lines += ["", f"Next: {view['next_action']}"]
    return "\n".join(lines)


def history_text(events: Iterable[Dict[str, Any]]) -> str:
    """One block per history event: time, actor, operation, outcome, reason, findings."""
    lines = []
    for e in events:
        stage = f" {e['stage']}" if e["stage"] else ""
        moved = (
            f" ({e['stage_before'] or '-'} -> {e['stage_after'] or 'done'}, "
            f"{e['status_before'] or '-'} -> {e['status_after']})"
        )
        phase = f" phase {e['phase']}" if e.get("phase") else ""
        lines.append(
            f"#{e['seq']} {e['at']} {e['actor']}: {e['operation']}{stage}{phase} {e['outcome']}"
            f"{moved}"
        )
        if e.get("skip"):
            lines.append(f"    skipped: {', '.join(e['skip'])}")
        if e.get("summary"):
            lines.append(f"    summary: {e['summary']}")
        if e.get("plan_file"):
            lines.append(f"    plan file: {e['plan_file']}")
        if e.get("review"):
            review = e["review"]
            said = "approved" if review["result"]["approved"] else "changes requested"
            lines.append(f"    review attempt {review['attempt']}: {said} -> {review['decision']}")
            for issue in review["result"]["issues"]:
                where = f" ({issue['location']})" if issue.get("location") else ""
                lines.append(f"      {issue['severity']}{where}: {issue['issue']}")
        if e["reason"]:
            label = "override justification" if e["override"] else "reason"
            lines.append(f"    {label}: {e['reason']}")
        overridden = e["override"] is not None
        for v in e["verdicts"]:
            if not v["passed"]:
                note = " (overridden)" if overridden and v["overridable"] else ""
                lines.append(f"    {v['gate']} failed{note}:")
                lines.extend(findings_text(v["findings"], indent="      "))
        if e["compensations"]:
            lines.append(f"    compensations: {', '.join(e['compensations'])}")
        if e["archived"]:
            lines.append(f"    archived to {e['archive']}: {', '.join(e['archived'])}")
    return "\n".join(lines)

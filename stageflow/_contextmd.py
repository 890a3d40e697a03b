"""The session context bundle's "Stage Progress" section, rendered from a run document.

The files store writes ``context.md`` next to ``stage-tracking.json`` after every change
(:func:`update_context`): the section the seed documents show -- the current, completed
and remaining stages, then per stage its status, start and finish times, outputs and
error. It is a view: stageflow never reads it back as state. Whatever else the file holds
(notes an agent added) is kept; only the section is replaced.

Pure apart from :func:`update_context`, and it imports nothing heavy (the files store is
on the CLI's fast path).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List

__all__ = ["CONTEXT_FILE", "SECTION", "render_progress", "update_context", "with_progress"]

CONTEXT_FILE = "context.md"
SECTION = "## Stage Progress"
_ICONS = {
    "completed": " ✅",
    "in_progress": " 🔄",
    "failed": " ❌",
    "skipped": " ⏭",
    "awaiting_approval": " ⏸",
}


def render_progress(document: Dict[str, Any]) -> str:
    """The "Stage Progress" section of a run document (ending with one newline)."""
    stages: List[Dict[str, Any]] = list(document.get("stages") or ())
    current = document.get("current_stage")

    def numbers(keep: Any) -> str:
        found = [str(s.get("number")) for s in stages if keep(s)]
        return ", ".join(found) or "none"

    lines = [SECTION, ""]
    now = next((s for s in stages if s.get("key") == current), None)
    if now is None:
        lines.append(f"Current Stage: none (the run is {document.get('status')})")
    else:
        lines.append(f"Current Stage: {now.get('number')} ({now.get('name')})")
    lines.append(f"Completed Stages: {numbers(lambda s: s.get('status') == 'completed')}")
    lines.append(
        "Remaining Stages: "
        + numbers(lambda s: s.get("status") not in ("completed", "skipped") and s is not now)
    )
    for stage in stages:
        status = str(stage.get("status"))
        lines += [
            "",
            f"### Stage {stage.get('number')}: {stage.get('name')}{_ICONS.get(status, '')}",
        ]
        lines.append(f"Status: {status}")
        for label, field in (
            ("Started", "started_at"),
            ("Completed", "completed_at"),
            ("Failed", "failed_at"),
        ):
            if stage.get(field):
                lines.append(f"{label}: {stage[field]}")
        if stage.get("outputs"):
            lines.append(f"Outputs: {', '.join(str(o) for o in stage['outputs'])}")
        if stage.get("error"):
            lines.append(f"Error: {stage['error']}")
    return "\n".join(lines) + "\n"


def with_progress(existing: str, document: Dict[str, Any]) -> str:
    """``existing`` (a context.md's text, or ``""``) with its Stage Progress section
    replaced by the run's, or added at the end; everything else is kept as it was."""
    section = render_progress(document)
    if not existing.strip():
        return f"# {document.get('feature')}\n\n{section}"
    lines = existing.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == SECTION), None)
    if start is None:
        return existing.rstrip("\n") + "\n\n" + section
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    after = "".join(lines[end:])
    return "".join(lines[:start]) + section + ("\n" + after if after else "")


def update_context(folder: str, document: Dict[str, Any]) -> None:
    """Re-render ``folder/context.md`` from ``document``. A view only: when it cannot be
    read or written, the run's state (already written) stands, and the next change
    writes the view again."""
    import os

    from ._fileio import write_atomic

    path = os.path.join(folder, CONTEXT_FILE)
    try:
        try:
            with open(path, encoding="utf-8") as handle:
                existing = handle.read()
        except FileNotFoundError:
            existing = ""
        write_atomic(path, with_progress(existing, document).encode("utf-8"), durable=False)
    except (OSError, UnicodeError):
        return

"""The session context bundle: context.md's Stage Progress section, re-rendered from the
run after every change, other content kept, never read back."""

from __future__ import annotations

from pathlib import Path

from stageflow import Orchestrator
from stageflow._contextmd import render_progress, with_progress
from stageflow.demo import write_outputs
from stageflow.testing import FakeClock

FEATURE = "shop"


def flow(root: Path) -> Orchestrator:
    return Orchestrator(root=root, clock=FakeClock(), actor="alice")


def context_of(root: Path) -> str:
    (path,) = (root / ".tmp" / "sessions").glob(f"*-{FEATURE}/context.md")
    return path.read_text(encoding="utf-8")


def test_init_writes_the_stage_progress(tmp_path: Path) -> None:
    flow(tmp_path).init(FEATURE)
    text = context_of(tmp_path)
    assert text.startswith("# shop\n\n## Stage Progress\n\n")
    assert "Current Stage: 1 (Architecture Decomposition)\n" in text
    assert "Completed Stages: none\nRemaining Stages: 2, 3, 4, 5, 6, 7, 8\n" in text
    assert "### Stage 1: Architecture Decomposition 🔄\nStatus: in_progress\nStarted: " in text
    assert "### Stage 8: Release & Learning\nStatus: pending\n" in text


def test_every_change_rerenders_it_and_keeps_other_sections(tmp_path: Path) -> None:
    engine = flow(tmp_path)
    engine.init(FEATURE)
    (path,) = (tmp_path / ".tmp" / "sessions").glob(f"*-{FEATURE}/context.md")
    path.write_text(path.read_text() + "\n## Decisions\n\nUse Postgres.\n", encoding="utf-8")
    write_outputs(tmp_path, "architecture", FEATURE)
    engine.complete(FEATURE, "architecture")
    text = context_of(tmp_path)
    assert "Current Stage: 2 (Story Mapping)\nCompleted Stages: 1\n" in text
    assert "### Stage 1: Architecture Decomposition ✅\nStatus: completed\n" in text
    assert "Outputs: .tmp/tasks/shop/contexts.json\n" in text
    assert text.endswith("## Decisions\n\nUse Postgres.\n")
    assert text.count("## Stage Progress") == 1
    engine.fail(FEATURE, "stories", reason="personas missing")
    assert "### Stage 2: Story Mapping ❌\nStatus: failed\n" in context_of(tmp_path)
    assert "Error: personas missing\n" in context_of(tmp_path)


def test_it_is_never_read_back(tmp_path: Path) -> None:
    engine = flow(tmp_path)
    engine.init(FEATURE)
    (path,) = (tmp_path / ".tmp" / "sessions").glob(f"*-{FEATURE}/context.md")
    path.write_bytes(b"\xff\xfe not even text")
    assert engine.status(FEATURE).current_stage == "architecture"
    engine.fail(FEATURE, 1, reason="broken")  # the view cannot be read: the change stands
    assert engine.status(FEATURE).status.value == "failed"


def test_a_view_that_cannot_be_written_never_fails_the_change(tmp_path: Path) -> None:
    engine = flow(tmp_path)
    engine.init(FEATURE)
    (path,) = (tmp_path / ".tmp" / "sessions").glob(f"*-{FEATURE}/context.md")
    path.unlink()
    path.mkdir()  # a folder where the file should be
    engine.fail(FEATURE, 1, reason="broken")
    assert engine.status(FEATURE).status.value == "failed"


def test_a_new_run_archives_the_old_bundle_with_its_run(tmp_path: Path) -> None:
    engine = flow(tmp_path)
    engine.init(FEATURE)
    engine.abort(FEATURE, reason="start over")
    engine.init(FEATURE)
    archived = tmp_path / ".tmp" / "sessions" / "archive" / FEATURE / "run-1" / "context.md"
    assert "Status: in_progress" in archived.read_text(encoding="utf-8")


def test_the_section_is_replaced_in_place() -> None:
    document = {
        "feature": "f",
        "status": "completed",
        "current_stage": None,
        "stages": [
            {
                "number": 1,
                "key": "a",
                "name": "A",
                "status": "completed",
                "completed_at": "2026-02-14T10:00:00Z",
                "outputs": ["a.md", "b.json"],
            },
        ],
    }
    section = render_progress(document)
    assert section == (
        "## Stage Progress\n\nCurrent Stage: none (the run is completed)\n"
        "Completed Stages: 1\nRemaining Stages: none\n\n"
        "### Stage 1: A ✅\nStatus: completed\nCompleted: 2026-02-14T10:00:00Z\n"
        "Outputs: a.md, b.json\n"
    )
    middle = "# f\n\nIntro.\n\n## Stage Progress\n\nold\n\n## Notes\n\nkeep me\n"
    assert with_progress(middle, document) == (
        "# f\n\nIntro.\n\n" + section + "\n## Notes\n\nkeep me\n"
    )
    assert with_progress("# f\n\nIntro.\n", document) == "# f\n\nIntro.\n\n" + section
    assert with_progress("", document) == "# f\n\n" + section

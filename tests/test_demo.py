"""The demo walks the whole workflow and shows each kind of decision."""

from __future__ import annotations

from pathlib import Path

from stageflow.demo import DEMO_FEATURE, run_demo
from stageflow.engine import Orchestrator
from stageflow.testing import assert_replays


def test_demo_completes_every_stage_with_a_refusal_an_override_and_a_rollback(
    tmp_path: Path,
) -> None:
    lines: list[str] = []
    summary = run_demo(tmp_path / "demo", say=lines.append)

    actions = [step["action"] for step in summary["steps"]]
    assert "complete architecture (no outputs yet)" in actions
    assert "complete prioritization with override" in actions
    assert "rollback to execution" in actions
    assert "complete contracts with override (not overridable)" in actions
    assert summary["status"]["status"] == "completed"
    assert summary["status"]["progress"] == {"completed": 8, "total": 8, "percent": 100}
    refused = summary["steps"][actions.index("complete architecture (no outputs yet)")]
    assert refused["findings"] == ["artifact-missing"]
    overridden = summary["steps"][actions.index("complete prioritization with override")]
    assert overridden["findings"] == ["rice-score-mismatch"]  # the seed's rounded score
    contracts = summary["steps"][
        actions.index("complete contracts with override (not overridable)")
    ]
    assert contracts["findings"] == ["contract-missing"] * 3 + ["not-overridable"]

    run = Orchestrator(root=tmp_path / "demo").status(DEMO_FEATURE)
    assert_replays(run)
    assert any("artifact-missing" in line for line in lines)
    assert run.stage("contracts").override is None

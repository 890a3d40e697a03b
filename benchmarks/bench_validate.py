"""Task-file validation benchmark: ``validate_feature`` against reading and parsing the files.

Run it as ``python benchmarks/bench_validate.py [--quick]`` with the interpreter of the
environment stageflow is installed in. It writes a project in a temporary folder with one
feature of 10,000 valid subtask files (2,000 with ``--quick``) and its ``task.json``. The
subtasks look like the seed example's: dependencies on one to three earlier subtasks,
context files with line ranges and reasons, reference files, acceptance criteria,
deliverables, contracts, ADRs, design components, verification checks, and every status
with its timestamps. Then it times, interleaved round by round:

* **the floor**: reading every file of the feature folder (listing it, ``open``/``read``)
  and ``json.loads`` of its text, nothing else;
* ``stageflow.validation.validate_feature`` of the feature (which must find nothing).

Both report files per second (the subtask files and ``task.json``); the goal is that
validation reaches at least half of the floor (``ratio_vs_floor`` >= 0.5). It also times a
copy of the feature in which a few subtask files are invalid (``with_invalid``), to show that
only those pay for ``jsonschema``. Every figure is a median over the rounds.

It prints one line per figure and, as the last line, one JSON object with every result.
Only the standard library and stageflow are used.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from stageflow.validation import validate_feature

GOAL_RATIO = 0.5
FEATURE = "bench-feature"
BROKEN = "bench-broken"
STATUSES = ("pending", "pending", "pending", "in_progress", "completed", "completed", "blocked")
AGENTS = ("CoderAgent", "TestEngineer", "DocWriter", "OpenFrontendSpecialist")
CONTEXTS = (
    ".opencode/context/core/standards/code-quality.md",
    ".opencode/context/core/standards/security-patterns.md",
    ".opencode/context/core/standards/test-coverage.md",
    ".opencode/context/core/workflows/multi-stage-orchestration.md",
)
LINES = ("1-50", "40-80", "10-20,45-60", "5", "100-140,150-160,170-175", "")
CONTEXTS_OF = ("order", "inventory", "payment", "notification", "catalog")


def say(text: str = "") -> None:
    print(text, flush=True)


def subtask(number: int, width: int) -> Dict[str, Any]:
    """A realistic valid subtask ``number`` (1-based) of the benchmark feature."""
    seq = str(number).zfill(width)
    status = STATUSES[number % len(STATUSES)]
    context = CONTEXTS_OF[number % len(CONTEXTS_OF)]
    earlier = [n for n in (number - 1, number - 3, number - 17) if n >= 1]
    deps = [str(n).zfill(width) for n in earlier[: 1 + number % 3]]
    doc: Dict[str, Any] = {
        "id": f"{FEATURE}-{seq}",
        "seq": seq,
        "title": f"Implement the {context} service, part {number}",
        "status": status,
        "depends_on": deps,
        "parallel": number % 2 == 0,
        "suggested_agent": AGENTS[number % len(AGENTS)],
        "context_files": [
            {
                "path": CONTEXTS[number % len(CONTEXTS)],
                "lines": LINES[number % len(LINES)],
                "reason": f"How {context} code handles secrets and errors",
            },
            CONTEXTS[(number + 1) % len(CONTEXTS)],
        ],
        "reference_files": [
            f"src/contracts/{context}-service.contract.ts",
            {"path": f"src/{context}/base.repository.ts", "lines": LINES[(number + 2) % 6]},
        ],
        "acceptance_criteria": [
            f"The {context} service validates its input",
            "Errors are reported with a code and a message",
            "Unit tests cover the happy path and two failures",
            "Events are emitted after the transaction commits",
        ],
        "deliverables": [
            f"src/{context}/services/{context}-{number}.service.ts",
            f"src/{context}/services/{context}-{number}.service.test.ts",
        ],
        "bounded_context": context,
        "module": f"@app/{context}",
        "contracts": [
            {
                "type": "interface",
                "name": f"{context.title()}Service",
                "path": f"src/contracts/{context}-service.contract.ts",
                "status": "defined",
            }
        ],
        "related_adrs": [{"id": "ADR-002", "path": "docs/adr/002-event-driven.md"}],
    }
    if number % 5 == 0:
        doc["design_components"] = [
            {"type": "wireframe", "path": f"docs/design/{context}.png", "description": "Flow"}
        ]
    if number % 4 == 0:
        doc["verification"] = [
            {"type": "command", "command": "npm test", "expect_exit": 0, "timeout_ms": 60000},
            {"type": "file_exists", "path": f"src/{context}/services/{context}-{number}.ts"},
        ]
    if status in ("in_progress", "completed"):
        doc["agent_id"] = f"agent-{number % 7}"
        doc["started_at"] = "2026-02-14T11:30:00Z"
    if status == "completed":
        doc["completed_at"] = "2026-02-15T09:00:00.250Z"
        doc["completion_summary"] = f"Implemented the {context} service with tests"
    if status == "blocked":
        doc["blocked_reason"] = "Waiting for the payment provider's sandbox keys"
        doc["blocked_at"] = "2026-02-15T10:00:00Z"
    return doc


def write_feature(root: str, feature: str, count: int) -> int:
    """Write ``feature`` with ``count`` subtasks; return the number of files written."""
    width = max(2, len(str(count)))
    folder = os.path.join(root, ".tmp", "tasks", feature)
    os.makedirs(folder)
    completed = 0
    for number in range(1, count + 1):
        doc = subtask(number, width)
        if feature != FEATURE:
            doc["id"] = f"{feature}-{doc['seq']}"
        completed += doc["status"] == "completed"
        with open(os.path.join(folder, f"subtask_{doc['seq']}.json"), "w") as out:
            json.dump(doc, out, indent=2)
    task = {
        "id": feature,
        "name": "Benchmark feature",
        "status": "active",
        "objective": "Validate many subtask files quickly",
        "context_files": [{"path": CONTEXTS[0], "lines": "1-40", "reason": "Standards"}],
        "exit_criteria": ["Every subtask validates"],
        "subtask_count": count,
        "completed_count": completed,
        "created_at": "2026-02-14T11:30:00Z",
        "rice_score": {"reach": 500, "impact": 2, "confidence": 80, "effort": 2, "score": 400},
        "release_slice": "v1.0.0",
    }
    with open(os.path.join(folder, "task.json"), "w") as out:
        json.dump(task, out, indent=2)
    return count + 1


def break_some(root: str, feature: str, every: int) -> List[str]:
    """Make every ``every``-th subtask of ``feature`` invalid, in a few different ways."""
    folder = os.path.join(root, ".tmp", "tasks", feature)
    names = sorted(n for n in os.listdir(folder) if n.startswith("subtask_"))
    changed = []
    for index, name in enumerate(names[every - 1 :: every]):
        path = os.path.join(folder, name)
        with open(path) as handle:
            doc = json.load(handle)
        kind = index % 3
        if kind == 0:
            doc["parallel"] = "yes"
        elif kind == 1:
            doc["title"] = "x" * 150
        else:
            doc["context_files"][0]["lines"] = "9-2"
        with open(path, "w") as out:
            json.dump(doc, out, indent=2)
        changed.append(name)
    return changed


def read_and_parse(folder: str) -> int:
    """The floor: list the folder, read and ``json.loads`` every ``.json`` file."""
    count = 0
    for name in sorted(os.listdir(folder)):
        if name.endswith(".json"):
            with open(os.path.join(folder, name), "rb") as handle:
                json.loads(handle.read().decode("utf-8"))
            count += 1
    return count


def timed(action: Callable[[], object]) -> float:
    gc.collect()
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 files and fewer rounds")
    parser.add_argument("--files", type=int, help="subtask files (default 10000, quick 2000)")
    parser.add_argument("--rounds", type=int, help="timed rounds (default 7, quick 5)")
    args = parser.parse_args(argv)
    count: int = args.files or (2000 if args.quick else 10000)
    rounds: int = args.rounds or (5 if args.quick else 7)
    every = 500  # one invalid subtask in this many
    started = time.perf_counter()
    say(f"Python {platform.python_version()} at {sys.executable}")
    with tempfile.TemporaryDirectory(prefix="stageflow-bench-validate-") as root:
        files = write_feature(root, FEATURE, count)
        write_feature(root, BROKEN, count)
        broken = break_some(root, BROKEN, every)
        folder = os.path.join(root, ".tmp", "tasks", FEATURE)
        say(f"project: {root}: {files} files in {FEATURE}, {len(broken)} invalid in {BROKEN}")

        # Sanity: the clean feature has no finding, the broken one a finding per bad file.
        found = validate_feature(root, FEATURE)
        if found:
            raise SystemExit(f"the benchmark feature is not clean: {found[:3]}")
        bad = validate_feature(root, BROKEN)
        bad_files = {f.path for f in bad if f.severity.value == "error"}
        if len(bad_files) != len(broken):
            raise SystemExit(f"expected {len(broken)} files with errors, got {len(bad_files)}")
        if read_and_parse(folder) != files:
            raise SystemExit("the floor did not read every file")

        actions: List[Any] = [
            ("floor", lambda: read_and_parse(folder)),
            ("validate", lambda: validate_feature(root, FEATURE)),
            ("with_invalid", lambda: validate_feature(root, BROKEN)),
        ]
        times: Dict[str, List[float]] = {label: [] for label, _ in actions}
        for _, action in actions:  # warm-up: file cache, compiled schemas
            action()
        for round_number in range(rounds):
            shift = round_number % len(actions)
            for label, action in actions[shift:] + actions[:shift]:
                times[label].append(timed(action))

    results: Dict[str, Any] = {}
    say(f"\n{files} files, median over {rounds} interleaved rounds (after one warm-up):")
    for label, _ in actions:
        median = statistics.median(times[label])
        results[label] = {
            "median_s": round(median, 4),
            "min_s": round(min(times[label]), 4),
            "files_per_s": round(files / median),
            "us_per_file": round(median / files * 1e6, 2),
        }
        entry = results[label]
        say(
            f"  {label:<13} {entry['files_per_s']:>8} files/s  {entry['us_per_file']:7.2f} us/file"
            f"  (median {entry['median_s']:.3f} s, min {entry['min_s']:.3f} s)"
        )
    floor = results["floor"]["files_per_s"]
    ratio = results["validate"]["files_per_s"] / floor
    ratio_invalid = results["with_invalid"]["files_per_s"] / floor
    meets = ratio >= GOAL_RATIO
    say(
        f"validate_feature reaches {ratio:.2f} of the read+parse floor (goal at least "
        f"{GOAL_RATIO}): {'met' if meets else 'NOT met'}; with {len(broken)} invalid files "
        f"{ratio_invalid:.2f}"
    )
    elapsed = time.perf_counter() - started
    say(f"total {elapsed:.1f} s")
    document = {
        "benchmark": "validate",
        "mode": "quick" if args.quick else "full",
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "subtask_files": count,
        "files": files,
        "invalid_files": len(broken),
        "rounds": rounds,
        "goal_ratio": GOAL_RATIO,
        "floor": "list the folder, read and json.loads every file",
        "results": results,
        "floor_files_per_s": floor,
        "validate_files_per_s": results["validate"]["files_per_s"],
        "ratio_vs_floor": round(ratio, 3),
        "ratio_with_invalid_vs_floor": round(ratio_invalid, 3),
        "meets_goal": meets,
        "elapsed_s": round(elapsed, 1),
    }
    print(json.dumps(document, separators=(",", ":")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

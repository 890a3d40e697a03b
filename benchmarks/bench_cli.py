"""CLI start-up benchmark: ``stage status`` and ``task status`` against ``python -c pass``.

Run it as ``python benchmarks/bench_cli.py [--quick] [--verbose]`` with the interpreter of
the environment stageflow is installed in. It prepares a project in a temporary folder with
``stageflow demo --dir``, then times, interleaved round by round (the order rotates each
round), the wall time of:

* ``python -c pass``                                  the baseline;
* ``python -m stageflow stage status FEATURE``        and with ``--json``;
* ``python -m stageflow task status TASKS``          on a feature of 12 subtasks shaped
                                                      like the seed example's; and with
                                                      ``--json``;
* ``stageflow stage status FEATURE``,
  ``stageflow task status TASKS``                     the console script next to the
                                                      interpreter, if there is one; and with
                                                      ``--json``.

All of them use ``sys.executable``, so the baseline is the same interpreter and virtual
environment. It reports the median (and minimum) milliseconds of each and the ratio of each
median to the baseline's median; the goal is at most 3x. It also checks, with
``python -X importtime``, what each status path imports beyond ``python -c pass`` and whether
any heavy module is among it (it should import none of attrs, cattrs, jsonschema,
transitions); ``--verbose`` lists the top offenders.

It prints one line per figure and, as the last line, one JSON object with every result.
``--check`` makes it exit 1 when a median ratio is over the goal. Only the standard library
is used (stageflow runs in subprocesses).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

GOAL_RATIO = 3.0
DEFAULT_FEATURE = "order-management"
TASK_FEATURE = "bench-tasks"
# The seed example's dependency shape: seq -> (depends_on, parallel).
TASK_SHAPE = {
    "01": ([], True),
    "02": (["01"], False),
    "03": (["02"], True),
    "04": (["02"], True),
    "05": (["02"], True),
    "06": (["02"], True),
    "07": (["03", "04", "05"], False),
    "08": (["07"], False),
    "09": (["06", "07"], False),
    "10": (["02"], True),
    "11": (["08", "09", "10"], False),
    "12": (["08"], True),
}
HEAVY_MODULES = ("attrs", "cattrs", "jsonschema", "transitions", "importlib.resources")

Command = Tuple[str, List[str]]


def say(text: str = "") -> None:
    print(text, flush=True)


def run(argv: Sequence[str], cwd: str, env: Dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )


def must(argv: Sequence[str], cwd: str, env: Dict[str, str]) -> str:
    """Run ``argv``; stop the benchmark with its output if it fails."""
    done = run(argv, cwd, env)
    if done.returncode != 0:
        raise SystemExit(
            f"command failed with exit code {done.returncode}: {' '.join(argv)}\n"
            f"--- stdout\n{done.stdout}--- stderr\n{done.stderr}"
        )
    return done.stdout


def console_script() -> Optional[str]:
    """The ``stageflow`` console script installed next to this interpreter, if any."""
    folder = os.path.dirname(sys.executable)
    for name in ("stageflow", "stageflow.exe"):
        path = os.path.join(folder, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def prepare(folder: str, env: Dict[str, str]) -> Tuple[str, str]:
    """Run the demo in ``folder/project``; return the project folder and its feature."""
    project = os.path.join(folder, "project")
    must([sys.executable, "-m", "stageflow", "demo", "--dir", project], folder, env)
    feature = DEFAULT_FEATURE
    listed = run([sys.executable, "-m", "stageflow", "stage", "list", "--json"], project, env)
    if listed.returncode == 0:
        features = [row.get("feature") for row in json.loads(listed.stdout).get("features", [])]
        if features and feature not in features:
            feature = str(features[0])
    return project, feature


def write_task_feature(project: str) -> None:
    """A feature of 12 subtasks under ``project/.tmp/tasks/``, 4 of them completed."""
    folder = os.path.join(project, ".tmp", "tasks", TASK_FEATURE)
    os.makedirs(folder)
    done = {"01", "02", "03", "04"}
    for seq, (deps, parallel) in TASK_SHAPE.items():
        status = "completed" if seq in done else "pending"
        subtask: Dict[str, Any] = {
            "id": f"{TASK_FEATURE}-{seq}",
            "seq": seq,
            "title": f"Subtask {seq} of the benchmark feature",
            "status": status,
            "depends_on": deps,
            "parallel": parallel,
            "context_files": [{"path": "docs/standards.md", "lines": "1-40", "reason": "rules"}],
            "acceptance_criteria": ["It works", "It is tested"],
            "deliverables": [f"src/part_{seq}.ts", f"tests/part_{seq}.test.ts"],
            "agent_id": "coder" if status == "completed" else None,
            "started_at": "2026-01-01T10:00:00Z" if status == "completed" else None,
            "completed_at": "2026-01-01T11:00:00Z" if status == "completed" else None,
            "completion_summary": "done" if status == "completed" else None,
        }
        with open(os.path.join(folder, f"subtask_{seq}.json"), "w", encoding="utf-8") as f:
            json.dump(subtask, f, indent=2)
    task = {
        "id": TASK_FEATURE,
        "name": "Benchmark feature",
        "status": "active",
        "objective": "Twelve subtasks shaped like the seed example",
        "created_at": "2026-01-01T09:00:00Z",
        "subtask_count": len(TASK_SHAPE),
        "completed_count": len(done),
    }
    with open(os.path.join(folder, "task.json"), "w", encoding="utf-8") as f:
        json.dump(task, f, indent=2)


def time_once(argv: Sequence[str], cwd: str, env: Dict[str, str]) -> float:
    start = time.perf_counter()
    code = subprocess.call(
        list(argv),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"exit code {code} from {' '.join(argv)} during timing")
    return seconds


def import_profile(argv: Sequence[str], cwd: str, env: Dict[str, str]) -> List[Dict[str, Any]]:
    """Every module ``argv`` (run with ``-X importtime``) imports, in import order."""
    done = run([sys.executable, "-X", "importtime", *argv], cwd, env)
    if done.returncode != 0:
        raise SystemExit(f"-X importtime run failed:\n{done.stderr}")
    rows: List[Dict[str, Any]] = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        head, cumulative, name = line.split("|", 2)
        rows.append(
            {
                "module": name.strip(),
                "depth": (len(name) - len(name.lstrip()) - 1) // 2,
                "self_us": int(head.split(":", 1)[1]),
                "cumulative_us": int(cumulative),
            }
        )
    return rows


def describe_imports(
    path_name: str, profile: List[Dict[str, Any]], bare: Set[str], verbose: bool
) -> Dict[str, Any]:
    """What ``stageflow <path_name>`` imports beyond ``python -c pass``, printed and as JSON."""
    imported = {row["module"] for row in profile}
    heavy = sorted(m for m in HEAVY_MODULES if m in imported)
    extra = [row for row in profile if row["module"] not in bare]
    extra_us = sum(row["self_us"] for row in extra)
    stageflow_us = sum(row["self_us"] for row in extra if row["module"].startswith("stageflow"))
    say(
        f"{path_name} (python -m) imports {len(extra)} modules more than python -c pass: "
        f"{extra_us / 1000:.1f} ms of import time, {stageflow_us / 1000:.1f} ms of it in "
        f"stageflow itself; heavy modules imported: {', '.join(heavy) or 'none'}"
    )
    found: Dict[str, Any] = {
        "what": f"python -X importtime -m stageflow {path_name}, modules beyond python -c pass",
        "extra_modules": len(extra),
        "extra_self_ms": round(extra_us / 1000, 2),
        "stageflow_self_ms": round(stageflow_us / 1000, 2),
        "heavy_checked": list(HEAVY_MODULES),
        "heavy_imported": heavy,
    }
    if verbose:
        top_self = sorted(extra, key=lambda row: row["self_us"], reverse=True)[:15]
        top_level = [row for row in extra if row["depth"] == 0]
        top_cumulative = sorted(top_level, key=lambda r: r["cumulative_us"], reverse=True)[:10]
        say(f"\nslowest imports of {path_name} beyond python -c pass (self time):")
        for row in top_self:
            say(f"  {row['self_us'] / 1000:7.2f} ms  {row['module']}")
        say("slowest top-level imports beyond python -c pass (cumulative):")
        for row in top_cumulative:
            say(f"  {row['cumulative_us'] / 1000:7.2f} ms  {row['module']}")
        found["top_self"] = [
            {"module": r["module"], "self_ms": round(r["self_us"] / 1000, 2)} for r in top_self
        ]
        found["top_cumulative"] = [
            {"module": r["module"], "cumulative_ms": round(r["cumulative_us"] / 1000, 2)}
            for r in top_cumulative
        ]
    return found


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--repeats", type=int, help="rounds of timed runs (default 30, quick 8)")
    parser.add_argument("--verbose", action="store_true", help="list the slowest imports")
    parser.add_argument("--check", action="store_true", help="exit 1 if a ratio misses the goal")
    args = parser.parse_args(argv)
    rounds: int = args.repeats or (8 if args.quick else 30)
    warmup = 2

    env = dict(os.environ)
    # PYTHONDONTWRITEBYTECODE would make every run recompile stageflow from source (an
    # editable install has no .pyc otherwise); users' installs have bytecode, so measure that.
    for name in (
        "STAGEFLOW_ROOT",
        "PYTHONPROFILEIMPORTTIME",
        "PYTHONDEVMODE",
        "PYTHONTRACEMALLOC",
        "PYTHONDONTWRITEBYTECODE",
    ):
        env.pop(name, None)
    env["PYTHONIOENCODING"] = "utf-8"
    started = time.perf_counter()
    say(f"Python {platform.python_version()} at {sys.executable}")
    with tempfile.TemporaryDirectory(prefix="stageflow-bench-cli-") as folder:
        project, feature = prepare(folder, env)
        write_task_feature(project)
        status = ["stage", "status", feature]
        task_status = ["task", "status", TASK_FEATURE]
        commands: List[Command] = [("python -c pass", [sys.executable, "-c", "pass"])]
        expected: Dict[str, str] = {}
        script = console_script()
        for words, name in ((status, feature), (task_status, TASK_FEATURE)):
            label = f"stageflow {' '.join(words[:2])}"
            runners = [("python -m " + label, [sys.executable, "-m", "stageflow"])]
            if script is not None:
                runners.append((label, [script]))
            for runner_label, prefix in runners:
                commands.append((runner_label, [*prefix, *words]))
                commands.append((runner_label + " --json", [*prefix, *words, "--json"]))
                expected[runner_label + " --json"] = name
        say(
            f"project: {project} (features {feature!r}, {TASK_FEATURE!r}); "
            f"console script: {script or 'none'}"
        )

        # Sanity: every command works, and --json prints one JSON document.
        for label, command in commands[1:]:
            out = must(command, project, env)
            if label.endswith("--json"):
                document = json.loads(out)
                if document.get("feature") != expected[label]:
                    raise SystemExit(f"{label}: unexpected JSON: {out[:200]}")

        for _ in range(warmup):  # compile bytecode, warm the file cache
            for _, command in commands:
                time_once(command, project, env)
        times: Dict[str, List[float]] = {label: [] for label, _ in commands}
        for round_number in range(rounds):
            shift = round_number % len(commands)
            for label, command in commands[shift:] + commands[:shift]:
                times[label].append(time_once(command, project, env))

        profiles = {
            "stage status": import_profile(["-m", "stageflow", *status], project, env),
            "task status": import_profile(["-m", "stageflow", *task_status], project, env),
        }
        bare = {row["module"] for row in import_profile(["-c", "pass"], project, env)}

    baseline = statistics.median(times["python -c pass"])
    results: Dict[str, Any] = {}
    say(f"\nwall time over {rounds} interleaved rounds (after {warmup} warm-up rounds):")
    for label, _ in commands:
        median = statistics.median(times[label])
        entry: Dict[str, Any] = {
            "median_ms": round(median * 1000, 2),
            "min_ms": round(min(times[label]) * 1000, 2),
            "max_ms": round(max(times[label]) * 1000, 2),
        }
        if label != "python -c pass":
            entry["ratio"] = round(median / baseline, 2)
            entry["meets_goal"] = median / baseline <= GOAL_RATIO
        results[label] = entry
        ratio = f"  {entry['ratio']:5.2f}x" if "ratio" in entry else "  (baseline)"
        say(
            f"  {label:<42} median {entry['median_ms']:7.1f} ms  min {entry['min_ms']:7.1f} ms"
            f"{ratio}"
        )
    ratios = [entry["ratio"] for entry in results.values() if "ratio" in entry]
    worst = max(ratios)
    meets = worst <= GOAL_RATIO
    say(
        f"worst ratio {worst:.2f}x against a goal of at most {GOAL_RATIO:.0f}x: "
        f"{'met' if meets else 'NOT met'}"
    )

    imports: Dict[str, Any] = {}
    for path_name, profile in profiles.items():
        imports[path_name] = describe_imports(path_name, profile, bare, args.verbose)
    heavy_anywhere = sorted({m for entry in imports.values() for m in entry["heavy_imported"]})

    elapsed = time.perf_counter() - started
    say(f"total {elapsed:.1f} s")
    document = {
        "benchmark": "cli",
        "mode": "quick" if args.quick else "full",
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "rounds": rounds,
        "goal_ratio": GOAL_RATIO,
        "baseline": "python -c pass",
        "results": results,
        "worst_ratio": worst,
        "meets_goal": meets,
        "imports": imports,
        "heavy_imported": heavy_anywhere,
        "elapsed_s": round(elapsed, 1),
    }
    print(json.dumps(document, separators=(",", ":")), flush=True)
    return 1 if args.check and not meets else 0


if __name__ == "__main__":
    sys.exit(main())

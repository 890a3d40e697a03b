"""Planner benchmark: ``stageflow.planner.plan`` against networkx on the same random DAGs.

Run it as ``python benchmarks/bench_planner.py [--quick]`` with the interpreter of the
environment stageflow is installed in. It builds random DAGs of 10,000 and 100,000 tasks
(2,000 and 20,000 with ``--quick``; the JSON says which in ``sizes``): each task depends on
up to 3 distinct earlier tasks within a window of 500, half are ``parallel: true``, and
each has one or two deliverable paths (a few of them folders, so some overlap). Then it
times, interleaved round by round, from the same plain ``seq -> document`` input:

* ``plan``: ``stageflow.planner.plan(tasks)``, every rule and explanation included;
* ``critical_path``: ``stageflow.planner.critical_path(tasks)``;
* ``networkx``: building a ``networkx.DiGraph`` from the same input and listing
  ``networkx.topological_generations`` (only when networkx is importable; it is not a
  dependency of stageflow). ``networkx_generations_only`` is the second step alone.

The goal is a plan no slower than networkx (``ratio_vs_networkx`` <= 1, the plan's time
over networkx's build plus generations). It checks that both find the same generations.
It prints one line per figure and, as the last line, one JSON object with every result.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from stageflow.planner import critical_path, plan

WINDOW = 500


def say(text: str = "") -> None:
    print(text, flush=True)


def random_dag(count: int, seed: int) -> Dict[str, Dict[str, Any]]:
    """``count`` tasks, each depending on up to 3 earlier ones within ``WINDOW``."""
    rng = random.Random(seed)
    width = max(2, len(str(count - 1)))
    seqs = [str(n).zfill(width) for n in range(count)]
    tasks: Dict[str, Dict[str, Any]] = {}
    for number, seq in enumerate(seqs):
        low = max(0, number - WINDOW)
        deps = rng.sample(range(low, number), min(3, number - low)) if number else []
        made = [f"src/m{rng.randrange(300)}/f{rng.randrange(50)}.py"]
        if rng.random() < 0.02:
            made.append(f"src/m{rng.randrange(300)}/")
        tasks[seq] = {
            "status": "pending",
            "depends_on": [seqs[d] for d in deps],
            "parallel": rng.random() < 0.5,
            "deliverables": made,
        }
    return tasks


def networkx_generations(nx: Any, tasks: Dict[str, Dict[str, Any]]) -> List[List[str]]:
    graph = nx.DiGraph()
    graph.add_nodes_from(tasks)
    graph.add_edges_from((dep, seq) for seq, doc in tasks.items() for dep in doc["depends_on"])
    return [sorted(g) for g in nx.topological_generations(graph)]


def timed(action: Callable[[], object]) -> float:
    gc.collect()
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 and 20,000 tasks, 1 round")
    parser.add_argument("--rounds", type=int, help="timed rounds (default 3, quick 1)")
    args = parser.parse_args(argv)
    sizes = [2000, 20000] if args.quick else [10000, 100000]
    rounds: int = args.rounds or (1 if args.quick else 3)
    try:
        import networkx as nx
    except ImportError:
        nx = None
    started = time.perf_counter()
    say(f"Python {platform.python_version()} at {sys.executable}")
    say("networkx " + (nx.__version__ if nx is not None else "not installed"))
    results: Dict[str, Any] = {}
    for size in sizes:
        tasks = random_dag(size, seed=size)
        result = plan(tasks)
        edges = sum(len(doc["depends_on"]) for doc in tasks.values())
        entry: Dict[str, Any] = {
            "tasks": size,
            "dependencies": edges,
            "generations": len(result.generations),
            "batches": len(result.batches),
        }
        actions: List[Any] = [("plan", lambda tasks=tasks: plan(tasks))]
        actions.append(("critical_path", lambda tasks=tasks: critical_path(tasks)))
        if nx is not None:
            expected = [sorted(g) for g in result.generations]
            if networkx_generations(nx, tasks) != expected:
                raise SystemExit("networkx and stageflow disagree on the generations")
            actions.append(("networkx", lambda tasks=tasks: networkx_generations(nx, tasks)))
            graph = nx.DiGraph()
            graph.add_nodes_from(tasks)
            graph.add_edges_from((d, s) for s, doc in tasks.items() for d in doc["depends_on"])
            actions.append(
                (
                    "networkx_generations_only",
                    lambda graph=graph: list(nx.topological_generations(graph)),
                )
            )
        times: Dict[str, List[float]] = {label: [] for label, _ in actions}
        for number in range(rounds):
            shift = number % len(actions)
            for label, action in actions[shift:] + actions[:shift]:
                times[label].append(timed(action))
        for label, _ in actions:
            entry[f"{label}_s"] = round(statistics.median(times[label]), 4)
        if nx is not None:
            entry["ratio_vs_networkx"] = round(entry["plan_s"] / entry["networkx_s"], 3)
            entry["ratio_vs_networkx_generations_only"] = round(
                entry["plan_s"] / entry["networkx_generations_only_s"], 3
            )
        results[str(size)] = entry
        line = (
            f"{size:>7} tasks, {edges} deps, {entry['generations']} generations, "
            f"{entry['batches']} batches: plan {entry['plan_s']:.3f} s, "
            f"critical path {entry['critical_path_s']:.3f} s"
        )
        if nx is not None:
            line += (
                f", networkx build+generations {entry['networkx_s']:.3f} s "
                f"(generations alone {entry['networkx_generations_only_s']:.3f} s), "
                f"ratio {entry['ratio_vs_networkx']:.2f}"
            )
        say(line)
    meets = None
    if nx is not None:
        meets = all(r["ratio_vs_networkx"] <= 1 for r in results.values())
        say(
            "goal (plan no slower than networkx build+generations): "
            + ("met" if meets else "NOT met")
        )
    elapsed = time.perf_counter() - started
    say(f"total {elapsed:.1f} s")
    document = {
        "benchmark": "planner",
        "mode": "quick" if args.quick else "full",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "sizes": sizes,
        "quick_note": "quick uses 2,000 and 20,000 tasks instead of 10,000 and 100,000"
        if args.quick
        else None,
        "rounds": rounds,
        "networkx": nx.__version__ if nx is not None else "networkx not installed",
        "results": results,
        "meets_goal": meets,
        "elapsed_s": round(elapsed, 1),
    }
    print(json.dumps(document, separators=(",", ":")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Executor benchmark: scheduling overhead of no-op subtasks, and eager against batches.

Run it as ``python benchmarks/bench_executor.py [--quick]`` with the interpreter of the
environment stageflow is installed in. Two parts:

* **overhead**: a feature of independent no-op subtasks (all ``parallel: true``, one
  distinct deliverable each, no dependencies; shape ``independent``) and a second one in
  which each subtask depends on up to 3 earlier ones within a window of 50 (shape
  ``deps3``), in the in-memory task store (``MemoryTaskStore``) and in the files store
  (a temporary project root). It times ``stageflow.executor.execute(tracker, feature,
  noop, executor=pool, mode=...)`` on a ``ThreadPoolExecutor(4)`` against **the
  baseline**, ``list(pool.map(noop, subtasks))`` of the same subtasks on the same pool,
  in interleaved rounds (the order rotates every round); the feature is rebuilt, untimed,
  before every run. 1,000 subtasks (and 100, to show the growth) in full mode, 50 with
  ``--quick``. **Goal: at most 1.5x the baseline** (``ratio_vs_pool_map``). For
  reference, ``store_floor_*`` times the writes a run cannot avoid, by hand (each subtask
  saved twice, ``task.json`` once a subtask; ``ratio_vs_pool_map_plus_floor``). A run whose
  time, extrapolated quadratically from the previous count, would exceed ``--cap``
  seconds is skipped (and says so); each cell stops repeating once it has spent
  ``--budget`` seconds.
* **makespan**: a DAG of 3 independent chains of 6 layers of 3 subtasks (54 in all; each
  subtask depends on the 3 of the layer before it in its chain), with one long subtask per
  layer, in a different chain each layer, and short ones elsewhere (``time.sleep`` in the
  worker), run in the memory store in both modes with the same concurrency (6). Reported:
  both makespans, ``ratio_eager_vs_batches`` (expected well below 1), the critical path of
  the durations (``ideal_s``, what unlimited concurrency could reach) and what batches
  mode could reach at best (``ideal_batches_s``, the sum of each batch's longest task).

``--profile`` runs instead one cProfile'd run per store (``independent``, ``--tasks``
subtasks, default 1,000; ``--mode``) and prints its hot spots. It prints one line per
figure and, as the last line, one JSON object with every result.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import cProfile
import functools
import gc
import io
import json
import os
import platform
import pstats
import random
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from stageflow import FileTaskStore, MemoryTaskStore, TaskTracker
from stageflow.executor import ExecutionReport, TaskContext, execute

FEATURE = "bench-exec"
WINDOW = 50
POOL_WORKERS = 4
STORES = ("memory", "files")
MODES = ("batches", "eager")
SHAPES = ("independent", "deps3")

Doc = Dict[str, Any]


def say(text: str = "") -> None:
    print(text, flush=True)


# -- features ------------------------------------------------------------------------------


def subtask(seq: str, deps: Sequence[str], title: str = "") -> Doc:
    return {
        "id": f"{FEATURE}-{seq}",
        "seq": seq,
        "title": title or f"Subtask {seq}",
        "status": "pending",
        "depends_on": list(deps),
        "parallel": True,
        "acceptance_criteria": ["works"],
        "deliverables": [f"src/bench/{seq}.py"],
    }


def task_doc(count: int) -> Doc:
    return {
        "id": FEATURE,
        "name": "Executor benchmark",
        "status": "active",
        "objective": "Measure the executor",
        "created_at": "2026-01-01T00:00:00Z",
        "subtask_count": count,
        "completed_count": 0,
    }


def shaped(shape: str, count: int) -> Dict[str, Doc]:
    """``count`` subtasks: independent ones, or each on up to 3 earlier ones (``deps3``)."""
    rng = random.Random(count)
    width = max(3, len(str(count)))
    seqs = [str(n).zfill(width) for n in range(1, count + 1)]
    subtasks = {}
    for number, seq in enumerate(seqs):
        deps: List[str] = []
        if shape == "deps3" and number:
            low = max(0, number - WINDOW)
            deps = [seqs[d] for d in sorted(rng.sample(range(low, number), min(3, number - low)))]
        subtasks[seq] = subtask(seq, deps)
    return subtasks


class Store:
    """A fresh feature in one kind of store, rebuilt before every run."""

    def __init__(self, kind: str, subtasks: Dict[str, Doc]) -> None:
        self.kind = kind
        self.subtasks = subtasks
        self.root: Optional[str] = None

    def fresh(self) -> TaskTracker:
        self.close()
        store: Any
        if self.kind == "memory":
            store = MemoryTaskStore()
        else:
            self.root = tempfile.mkdtemp(prefix="stageflow-bench-exec-")
            store = FileTaskStore(self.root)
        store.create(FEATURE, task_doc(len(self.subtasks)), self.subtasks)
        return TaskTracker(store)

    def close(self) -> None:
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None


def noop_worker(subtask: Doc, context: TaskContext) -> str:
    return "done"


def noop(subtask: Doc) -> str:
    return "done"


def check(report: ExecutionReport, count: int, what: str) -> None:
    done = sum(1 for o in report.outcomes if o.outcome == "completed")
    if done != count or report.warnings:
        raise SystemExit(f"{what}: {done} of {count} completed, warnings {report.warnings!r}")


def timed(action: Callable[[], object]) -> float:
    gc.collect()
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


# -- part 1: overhead ----------------------------------------------------------------------


def pool_map(pool: concurrent.futures.Executor, items: List[Doc]) -> float:
    """The baseline: the same no-op work through the same pool, nothing else."""
    return timed(lambda: list(pool.map(noop, items)))


def store_floor(kind: str, subtasks: Dict[str, Doc]) -> float:
    """Seconds to write what a run must write at least, by hand: each subtask twice (in
    progress, then completed) and ``task.json`` once per completion, one save at a time."""
    store = Store(kind, subtasks)
    tracker = store.fresh()
    try:
        stored = tracker.store.load(FEATURE)
        task = stored.task
        assert task.document is not None
        counts = dict(task.document)
        start = time.perf_counter()
        revision = task.revision
        for done, file in enumerate(stored.subtasks, 1):
            assert file.document is not None
            doc = dict(file.document, status="in_progress", agent_id="bench", attempts=1)
            doc["started_at"] = "2026-01-01T00:00:00Z"
            mid = tracker.store.save(FEATURE, file.location, doc, file.revision)
            doc.update(status="completed", completed_at="2026-01-01T00:00:01Z")
            doc["completion_summary"] = "done"
            tracker.store.save(FEATURE, file.location, doc, mid)
            counts["completed_count"] = done
            revision = tracker.store.save(FEATURE, task.location, counts, revision)
        return time.perf_counter() - start
    finally:
        store.close()


class Cell:
    """One (shape, store, mode) at one count: its times, and whether to run it."""

    def __init__(self, shape: str, kind: str, mode: str, store: Store) -> None:
        self.shape, self.kind, self.mode, self.store = shape, kind, mode, store
        self.label = f"{shape}/{kind}/{mode}"
        self.times: List[float] = []
        self.skipped: Optional[str] = None

    def run(self, pool: concurrent.futures.Executor) -> float:
        tracker = self.store.fresh()
        count = len(self.store.subtasks)
        holder: List[ExecutionReport] = []

        def action() -> None:
            holder.append(execute(tracker, FEATURE, noop_worker, executor=pool, mode=self.mode))

        elapsed = timed(action)
        check(holder[0], count, self.label)
        self.times.append(elapsed)
        return elapsed


def overhead(
    pool: concurrent.futures.ThreadPoolExecutor,
    counts: Sequence[int],
    rounds: int,
    budget: float,
    cap: float,
) -> Dict[str, Any]:
    results: Dict[str, Any] = {}
    previous: Dict[str, Tuple[int, float]] = {}  # label -> (count, median s)
    for count in counts:
        cells: List[Cell] = []
        stores: List[Store] = []
        for shape in SHAPES:
            subtasks = shaped(shape, count)
            for kind in STORES:
                store = Store(kind, subtasks)
                stores.append(store)
                for mode in MODES:
                    cell = Cell(shape, kind, mode, store)
                    before = previous.get(cell.label)
                    if before is not None:
                        estimate = before[1] * (count / before[0]) ** 2
                        if estimate > cap:
                            cell.skipped = (
                                f"estimated {estimate:.0f} s a run (quadratic from "
                                f"{before[0]} subtasks), over the cap of {cap:g} s (--cap)"
                            )
                    cells.append(cell)
        items = [subtask(seq, ()) for seq in shaped("independent", count)]
        baseline: List[float] = []
        spent: Dict[str, float] = {}
        try:
            for number in range(rounds):
                actions: List[Tuple[str, Callable[[], float]]] = [
                    ("pool.map", functools.partial(pool_map, pool, items))
                ]
                for cell in cells:
                    if cell.skipped is None and spent.get(cell.label, 0.0) < budget:
                        actions.append((cell.label, functools.partial(cell.run, pool)))
                if len(actions) == 1 and number:
                    break
                shift = number % len(actions)
                for label, action in actions[shift:] + actions[:shift]:
                    elapsed = action()
                    if label == "pool.map":
                        baseline.append(elapsed)
                    else:
                        spent[label] = spent.get(label, 0.0) + elapsed
        finally:
            for store in stores:
                store.close()
        base = statistics.median(baseline)
        entry: Dict[str, Any] = {
            "subtasks": count,
            "pool_map_s": round(base, 6),
            "pool_map_rounds": len(baseline),
        }
        say(f"{count:>5} no-op subtasks: pool.map baseline {base * 1e3:.2f} ms")
        floors: Dict[str, float] = {}
        for kind in STORES:
            before = previous.get(f"floor/{kind}")
            if before is not None and before[1] * count / before[0] > cap:
                entry[f"store_floor_{kind}"] = {"skipped": "estimated over the cap (--cap)"}
                continue
            floors[kind] = store_floor(kind, shaped("independent", count))
            previous[f"floor/{kind}"] = (count, floors[kind])
            entry[f"store_floor_{kind}"] = {
                "s": round(floors[kind], 4),
                "us_per_subtask": round(floors[kind] / count * 1e6, 1),
            }
            say(
                f"      store floor, {kind:<6} (3 saves a subtask, 1 round) "
                f"{floors[kind]:8.3f} s ({floors[kind] / count * 1e6:8.0f} us a subtask)"
            )
        for cell in cells:
            key = cell.label.replace("/", "_")
            if cell.skipped is not None:
                entry[key] = {"skipped": cell.skipped}
                say(f"      {cell.label:<26} skipped: {cell.skipped}")
                continue
            median = statistics.median(cell.times)
            previous[cell.label] = (count, median)
            entry[key] = {
                "execute_s": round(median, 4),
                "min_s": round(min(cell.times), 4),
                "rounds": len(cell.times),
                "us_per_subtask": round(median / count * 1e6, 1),
                "overhead_us_per_subtask": round((median - base) / count * 1e6, 1),
                "ratio_vs_pool_map": round(median / base, 1),
            }
            if cell.kind in floors:
                floor = floors[cell.kind] + base
                entry[key]["ratio_vs_pool_map_plus_floor"] = round(median / floor, 1)
            say(
                f"      {cell.label:<26} execute {median:8.3f} s "
                f"({median / count * 1e6:8.0f} us a subtask, {len(cell.times)} rounds), "
                f"ratio {median / base:9.1f}"
            )
        results[str(count)] = entry
    return results


# -- part 2: makespan ----------------------------------------------------------------------

CHAINS = 3
LAYERS = 6
WIDTH = 3
CONCURRENCY = 6


def skewed_dag(long: float, short: float) -> Tuple[Dict[str, Doc], Dict[str, float]]:
    """Chains of layers; one long subtask per layer, in chain ``layer % CHAINS``."""
    subtasks: Dict[str, Doc] = {}
    durations: Dict[str, float] = {}
    number = 0
    previous: Dict[int, List[str]] = {c: [] for c in range(CHAINS)}
    for layer in range(LAYERS):
        for chain in range(CHAINS):
            current = []
            for slot in range(WIDTH):
                number += 1
                seq = f"{number:02d}"
                title = f"chain {chain} layer {layer} slot {slot}"
                subtasks[seq] = subtask(seq, previous[chain], title)
                is_long = chain == layer % CHAINS and slot == 0
                durations[seq] = long if is_long else short
                current.append(seq)
            previous[chain] = current
    return subtasks, durations


def critical_path_s(subtasks: Dict[str, Doc], durations: Dict[str, float]) -> float:
    finish: Dict[str, float] = {}
    for seq, doc in subtasks.items():  # seqs are in a topological order
        start = max((finish[d] for d in doc["depends_on"]), default=0.0)
        finish[seq] = start + durations[seq]
    return max(finish.values())


class Sleeper:
    """A worker that sleeps for its subtask's duration."""

    def __init__(self, durations: Dict[str, float]) -> None:
        self.durations = durations

    def __call__(self, subtask: Doc, context: TaskContext) -> str:
        time.sleep(self.durations[context.seq])
        return "slept"


def makespan(long: float, short: float, rounds: int) -> Dict[str, Any]:
    subtasks, durations = skewed_dag(long, short)
    worker = Sleeper(durations)
    times: Dict[str, List[float]] = {mode: [] for mode in MODES}
    batches: Tuple[Tuple[str, ...], ...] = ()
    for number in range(rounds):
        order = MODES if number % 2 == 0 else MODES[::-1]
        for mode in order:
            store = Store("memory", subtasks)
            tracker = store.fresh()
            holder: List[ExecutionReport] = []

            def action(
                tracker: TaskTracker = tracker,
                mode: str = mode,
                holder: List[ExecutionReport] = holder,
            ) -> None:
                holder.append(execute(tracker, FEATURE, worker, concurrency=CONCURRENCY, mode=mode))

            times[mode].append(timed(action))
            check(holder[0], len(subtasks), f"makespan/{mode}")
            batches = holder[0].batches
    ideal = critical_path_s(subtasks, durations)
    ideal_batches = sum(max(durations[s] for s in batch) for batch in batches)
    eager = statistics.median(times["eager"])
    batched = statistics.median(times["batches"])
    entry = {
        "subtasks": len(subtasks),
        "chains": CHAINS,
        "layers": LAYERS,
        "width": WIDTH,
        "concurrency": CONCURRENCY,
        "long_s": long,
        "short_s": short,
        "total_work_s": round(sum(durations.values()), 3),
        "plan_batches": len(batches),
        "rounds": rounds,
        "batches_s": round(batched, 3),
        "eager_s": round(eager, 3),
        "ratio_eager_vs_batches": round(eager / batched, 3),
        "ideal_s": round(ideal, 3),
        "ideal_batches_s": round(ideal_batches, 3),
        "eager_vs_ideal": round(eager / ideal, 3),
        "batches_vs_ideal_batches": round(batched / ideal_batches, 3),
    }
    say(
        f"makespan, {len(subtasks)} subtasks ({CHAINS} chains x {LAYERS} layers x {WIDTH}; "
        f"one {long:g} s subtask a layer, others {short:g} s; concurrency {CONCURRENCY}): "
        f"batches {batched:.3f} s (best possible {ideal_batches:.3f} s), "
        f"eager {eager:.3f} s (critical path {ideal:.3f} s), ratio eager/batches "
        f"{eager / batched:.2f}"
    )
    return entry


# -- --profile -----------------------------------------------------------------------------


def profile(
    pool: concurrent.futures.ThreadPoolExecutor, count: int, mode: str, top: int
) -> Dict[str, Any]:
    results: Dict[str, Any] = {}
    for kind in STORES:
        store = Store(kind, shaped("independent", count))
        tracker = store.fresh()
        profiler = cProfile.Profile()
        start = time.perf_counter()
        profiler.enable()
        report = execute(tracker, FEATURE, noop_worker, executor=pool, mode=mode)
        profiler.disable()
        elapsed = time.perf_counter() - start
        store.close()
        check(report, count, f"profile/{kind}")
        stats = pstats.Stats(profiler, stream=io.StringIO())
        rows = []
        for (path, line, name), (_cc, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
            where = f"{os.path.basename(path)}:{line}({name})" if line else name
            rows.append((own, cumulative, calls, where))
        say(f"profile, {kind} store, {count} subtasks, {mode}: {elapsed:.2f} s under cProfile")
        hot = []
        for own, cumulative, calls, where in sorted(rows, reverse=True)[:top]:
            say(f"    own {own:7.3f} s  cumulative {cumulative:7.3f} s  {calls:>9} calls  {where}")
            hot.append(
                {
                    "function": where,
                    "calls": calls,
                    "own_s": round(own, 4),
                    "cum_s": round(cumulative, 4),
                }
            )
        results[kind] = {
            "subtasks": count,
            "mode": mode,
            "elapsed_s": round(elapsed, 3),
            "hot": hot,
        }
    return results


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 subtasks, fewer rounds")
    parser.add_argument("--tasks", type=int, nargs="+", help="subtask counts (default 100 1000)")
    parser.add_argument("--rounds", type=int, help="rounds at most (default 5, quick 2)")
    parser.add_argument(
        "--budget", type=float, help="seconds a cell may spend (default 10, quick 0.5)"
    )
    parser.add_argument(
        "--cap", type=float, help="skip a run estimated over this (default 45, quick 5)"
    )
    parser.add_argument("--profile", action="store_true", help="profile one run per store instead")
    parser.add_argument("--mode", choices=MODES, default="batches", help="mode of --profile")
    args = parser.parse_args(argv)
    quick: bool = args.quick
    counts: List[int] = args.tasks or ([50] if quick else [100, 1000])
    rounds: int = args.rounds or (2 if quick else 5)
    budget: float = args.budget if args.budget is not None else (0.5 if quick else 10.0)
    cap: float = args.cap if args.cap is not None else (5.0 if quick else 45.0)
    started = time.perf_counter()
    say(f"Python {platform.python_version()} at {sys.executable}, {os.cpu_count()} CPUs")
    document: Dict[str, Any] = {
        "benchmark": "executor",
        "mode": "quick" if quick else "full",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "pool_workers": POOL_WORKERS,
    }
    with concurrent.futures.ThreadPoolExecutor(POOL_WORKERS) as pool:
        list(pool.map(noop, [{}] * 100))  # start the threads
        if args.profile:
            count = args.tasks[0] if args.tasks else 1000
            document["profile"] = profile(pool, count, args.mode, 25)
        else:
            document.update(
                counts=counts,
                quick_note="quick uses 50 subtasks instead of 100 and 1,000" if quick else None,
                rounds=rounds,
                budget_s=budget,
                cap_s=cap,
            )
            results = overhead(pool, counts, rounds, budget, cap)
            document["overhead"] = results
            ratios = [
                cell["ratio_vs_pool_map"]
                for entry in results.values()
                for cell in entry.values()
                if isinstance(cell, dict) and "ratio_vs_pool_map" in cell
            ]
            largest = results[str(max(counts))]
            measured = [
                cell["ratio_vs_pool_map"]
                for key, cell in largest.items()
                if key.startswith("independent_") and isinstance(cell, dict)
                if "ratio_vs_pool_map" in cell
            ]
            document["worst_ratio"] = max(ratios) if ratios else None
            document["meets_goal"] = all(r <= 1.5 for r in measured) if measured else None
            say(
                f"goal (independent no-op subtasks, at most 1.5x pool.map, {max(counts)} "
                "subtasks): "
                + {True: "met", False: "NOT met", None: "not measured"}[document["meets_goal"]]
            )
            long, short = (0.12, 0.012) if quick else (0.3, 0.03)
            document["makespan"] = makespan(long, short, 1 if quick else 3)
    elapsed = time.perf_counter() - started
    say(f"total {elapsed:.1f} s")
    document["elapsed_s"] = round(elapsed, 1)
    print(json.dumps(document, separators=(",", ":")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

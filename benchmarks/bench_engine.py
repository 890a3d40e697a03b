"""Engine benchmarks: the gate pipeline, the pure core, and run creation.

Run it as ``python benchmarks/bench_engine.py [--quick]``. It prints one line per figure
and, as the last line, one JSON object with every result. Each figure is the median over
repeats, and each comparison baseline is measured in the same process, in the same run:

(a) transitions per second through the whole gate pipeline, in memory: an orchestrator
    (``stageflow.testing.make_orchestrator``: ``MemoryStore``, ``FakeClock``,
    ``default_gates=False``, one trivial registered exit gate per stage) completing all the
    stages of many runs, and rollback cycles (roll back two stages, complete them again);
(b) the same moves on a bare ``transitions.Machine`` (the stage keys plus ``completed``,
    an ``advance`` trigger, one model): stageflow's per-transition overhead in microseconds
    and the ratio;
(c) the pure core: ``stageflow.lifecycle`` check, decide and apply, without storage;
(d) creating 10,000 and 40,000 runs (5,000 and 20,000 with ``--quick``): ``Orchestrator.init``
    on a ``MemoryStore`` with distinct features; seconds and the ratio of the two times
    (linear is ~4), and, for comparison, ``transitions``' ``add_model`` on one shared
    machine, capped in count and time.

Only the standard library, stageflow and transitions are used.
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
from typing import Any, Callable, Dict, List, Sequence

try:
    import stageflow
except ImportError:  # a source checkout without an installed stageflow
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import stageflow

import transitions
from transitions import Machine

from stageflow import lifecycle
from stageflow.engine import Orchestrator
from stageflow.findings import Verdict
from stageflow.gates import Registry, StageContext
from stageflow.testing import FakeClock, make_orchestrator
from stageflow.workflow import EIGHT_STAGE

SPEC = EIGHT_STAGE
KEYS = SPEC.keys
STAGES = len(KEYS)
# Rollback cycle: from the stage at index ROLLBACK_FROM (in progress), roll back to the stage
# at index ROLLBACK_TO and complete the stages in between, so the run is back where it was.
ROLLBACK_TO = 1
ROLLBACK_FROM = 3
CYCLE_MOVES = 1 + ROLLBACK_FROM - ROLLBACK_TO  # one rollback, then the completions
CYCLES_PER_RUN = 4  # keeps every run's history short, so the figure does not drift


def say(text: str = "") -> None:
    print(text, flush=True)


def median_time(fn: Callable[[], float], repeats: int) -> Dict[str, Any]:
    """Call ``fn`` (which returns the seconds it measured) ``repeats`` times."""
    times = [fn() for _ in range(repeats)]
    return {"median_s": statistics.median(times), "min_s": min(times), "repeats": repeats}


def timed(body: Callable[[], object]) -> float:
    gc.collect()
    start = time.perf_counter()
    body()
    return time.perf_counter() - start


# -- (a) stageflow through the gate pipeline -------------------------------------------------


class GateCounter:
    """The trivial exit gate: passes, and counts its calls to prove the pipeline ran."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, context: StageContext) -> Verdict:
        self.calls += 1
        return Verdict.from_findings("trivial", ())


def pipeline_orchestrator(root: str, gate: GateCounter) -> Orchestrator:
    registry = Registry()
    for key in KEYS:
        registry.add_gate(key, gate, name="trivial")
    return make_orchestrator(root, registry=registry, clock=FakeClock(), default_gates=False)


def stageflow_complete_runs(root: str, runs: int) -> float:
    """Seconds for completing every stage of ``runs`` fresh runs (inits not timed)."""
    gate = GateCounter()
    flow = pipeline_orchestrator(root, gate)
    features = [f"feature-{i}" for i in range(runs)]
    for feature in features:
        flow.init(feature)

    def body() -> None:
        for feature in features:
            for key in KEYS:
                flow.complete(feature, key)

    seconds = timed(body)
    if gate.calls != runs * STAGES:
        raise SystemExit(f"the gate ran {gate.calls} times, expected {runs * STAGES}")
    last = flow.status(features[-1])
    if last.status.value != "completed":
        raise SystemExit(f"a run ended {last.status.value}, expected completed")
    return seconds


def stageflow_rollback_cycles(root: str, runs: int) -> float:
    """Seconds for ``CYCLES_PER_RUN`` rollback cycles on each of ``runs`` runs."""
    gate = GateCounter()
    flow = pipeline_orchestrator(root, gate)
    features = [f"feature-{i}" for i in range(runs)]
    for feature in features:
        flow.init(feature)
        for key in KEYS[:ROLLBACK_FROM]:
            flow.complete(feature, key)
    target = KEYS[ROLLBACK_TO]
    redo = KEYS[ROLLBACK_TO:ROLLBACK_FROM]

    def body() -> None:
        for feature in features:
            for _ in range(CYCLES_PER_RUN):
                flow.rollback(feature, target, reason="benchmark")
                for key in redo:
                    flow.complete(feature, key)

    seconds = timed(body)
    last = flow.status(features[-1])
    if last.current_stage != KEYS[ROLLBACK_FROM]:
        raise SystemExit(f"a run ended at {last.current_stage}, expected {KEYS[ROLLBACK_FROM]}")
    return seconds


# -- (b) the same moves on a bare transitions machine ----------------------------------------


class Model:
    """A plain model for the bare machine."""


def bare_machine(model: object = None) -> Machine:
    states = [*KEYS, "completed"]
    moves: List[Dict[str, Any]] = [
        {"trigger": "advance", "source": source, "dest": dest}
        for source, dest in zip(states, states[1:])
    ]
    for i, key in enumerate(KEYS):
        moves.append({"trigger": f"rollback_{key}", "source": states[i:], "dest": key})
    return Machine(
        model=model, states=states, transitions=moves, initial=KEYS[0], auto_transitions=False
    )


def bare_complete_runs(runs: int) -> float:
    model: Any = Model()
    machine = bare_machine(model)

    def body() -> None:
        for _ in range(runs):
            machine.set_state(KEYS[0], model)
            for _ in KEYS:
                model.advance()

    seconds = timed(body)
    if model.state != "completed":
        raise SystemExit(f"the bare machine ended in {model.state}")
    return seconds


def bare_rollback_cycles(runs: int) -> float:
    model: Any = Model()
    machine = bare_machine(model)
    rollback = getattr(model, f"rollback_{KEYS[ROLLBACK_TO]}")
    redo = range(ROLLBACK_FROM - ROLLBACK_TO)

    def body() -> None:
        for _ in range(runs):
            machine.set_state(KEYS[ROLLBACK_FROM], model)
            for _ in range(CYCLES_PER_RUN):
                rollback()
                for _ in redo:
                    model.advance()

    seconds = timed(body)
    if model.state != KEYS[ROLLBACK_FROM]:
        raise SystemExit(f"the bare machine ended in {model.state}")
    return seconds


# -- (c) the pure core -----------------------------------------------------------------------


def core_complete_runs(runs: int) -> float:
    clock = FakeClock()
    gate = (Verdict.from_findings("exit:trivial", ()),)
    fresh = [lifecycle.new_run(SPEC, f"feature-{i}", 1, clock.now(), "bench") for i in range(runs)]

    def body() -> None:
        for run in fresh:
            for key in KEYS:
                rules = lifecycle.check_complete(SPEC, run, key)
                event = lifecycle.decide_complete(
                    rules, gate, stage=key, now=clock.now(), actor="bench"
                )
                run = lifecycle.apply(SPEC, run, event)
            if run.current_stage is not None:
                raise SystemExit(f"a core run ended at {run.current_stage}")

    return timed(body)


# -- (d) creating many runs ------------------------------------------------------------------


def stageflow_init(root: str, count: int) -> float:
    flow = make_orchestrator(root, default_gates=False)
    features = [f"feature-{i}" for i in range(count)]
    seconds = timed(lambda: [flow.init(feature) for feature in features])
    if len(flow.features()) != count:
        raise SystemExit(f"expected {count} features, found {len(flow.features())}")
    return seconds


def transitions_add_model(count: int) -> float:
    machine = bare_machine()
    models = [Model() for _ in range(count)]
    seconds = timed(lambda: [machine.add_model(m) for m in models])
    if len(machine.models) != count:
        raise SystemExit(f"expected {count} models, found {len(machine.models)}")
    return seconds


def scaling(
    measure: Callable[[int], float],
    counts: Sequence[int],
    repeats: int,
    cap_s: float = float("inf"),
) -> Dict[str, Any]:
    """Times for each count, and the ratio of the last to the first.

    Repeats are interleaved (every count once per round), so a burst of load on the machine
    hits all counts alike. A count is dropped, with the rest of the round, once the count
    before it took longer than ``cap_s``.
    """
    times: Dict[int, List[float]] = {count: [] for count in counts}
    skipped = None
    for _ in range(repeats):
        for count in counts:
            if skipped is not None and count >= skipped:
                break
            times[count].append(measure(count))
            if times[count][-1] > cap_s and count != counts[-1]:
                skipped = counts[counts.index(count) + 1]
                break
    result: Dict[str, Any] = {"counts": list(counts), "seconds": {}, "us_per_item": {}}
    medians: Dict[int, float] = {}
    for count in counts:
        if not times[count]:
            continue
        medians[count] = statistics.median(times[count])
        result["seconds"][str(count)] = round(medians[count], 4)
        result["us_per_item"][str(count)] = round(medians[count] / count * 1e6, 2)
    if skipped is not None:
        result["skipped"] = f"counts from {skipped} on skipped: a smaller count took over {cap_s} s"
    done = sorted(medians)
    if len(done) >= 2:
        first, last = done[0], done[-1]
        result["ratio"] = round(medians[last] / medians[first], 2)
        result["ratio_of_minimums"] = round(min(times[last]) / min(times[first]), 2)
        result["linear_ratio"] = round(last / first, 2)
    return result


# -- main ------------------------------------------------------------------------------------


def per_move(seconds: float, moves: int) -> float:
    return seconds / moves * 1e6


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and repeats (< ~20 s)")
    args = parser.parse_args(argv)
    quick: bool = args.quick

    runs = 20 if quick else 150  # stageflow runs per repeat in (a), completing every stage
    rollback_runs = 8 if quick else 60  # stageflow runs per repeat in (a), rollback cycles
    bare_runs = 1_000 if quick else 20_000  # bare transitions runs per repeat in (b)
    core_runs = 100 if quick else 1_000
    repeats = 3 if quick else 7
    init_counts = (5_000, 20_000) if quick else (10_000, 40_000)
    init_repeats = 1 if quick else 3
    add_model_counts = (2_500, 5_000) if quick else (10_000, 20_000)
    add_model_cap_s = 3.0 if quick else 30.0

    say(
        f"stageflow {stageflow.__version__}, transitions {transitions.__version__}, "
        f"Python {platform.python_version()} ({sys.executable})"
    )
    say(
        f"mode: {'quick' if quick else 'full'}; medians of {repeats} repeats unless noted; "
        f"workflow {SPEC.name!r} with {STAGES} stages"
    )
    results: Dict[str, Any] = {}
    started = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="stageflow-bench-") as root:
        # Warm up: build and cache the workflow's machine, import lazily imported modules.
        stageflow_complete_runs(root, 2)
        stageflow_rollback_cycles(root, 1)

        # (a) + (b): completing every stage
        moves = runs * STAGES
        sf = median_time(lambda: stageflow_complete_runs(root, runs), repeats)
        bare_moves = bare_runs * STAGES
        bare = median_time(lambda: bare_complete_runs(bare_runs), repeats)
        sf_us = per_move(sf["median_s"], moves)
        bare_us = per_move(bare["median_s"], bare_moves)
        results["pipeline_complete"] = {
            "what": "Orchestrator.complete through one trivial exit gate per stage, MemoryStore",
            "runs": runs,
            "transitions": moves,
            "repeats": repeats,
            "median_s": round(sf["median_s"], 4),
            "transitions_per_s": round(moves / sf["median_s"], 1),
            "us_per_transition": round(sf_us, 2),
            "baseline": {
                "what": "bare transitions.Machine, one model, 'advance' trigger",
                "transitions": bare_moves,
                "median_s": round(bare["median_s"], 4),
                "transitions_per_s": round(bare_moves / bare["median_s"], 1),
                "us_per_transition": round(bare_us, 3),
            },
            "overhead_us_per_transition": round(sf_us - bare_us, 2),
            "ratio_vs_bare": round(sf_us / bare_us, 1),
        }
        say()
        say("(a) complete, whole gate pipeline in memory:")
        say(
            f"    stageflow: {moves / sf['median_s']:10.0f} transitions/s  "
            f"({sf_us:8.1f} us each; {runs} runs x {STAGES} stages)"
        )
        say(
            f"(b) bare transitions: {bare_moves / bare['median_s']:10.0f} transitions/s  "
            f"({bare_us:8.2f} us each)"
        )
        say(
            f"    overhead: {sf_us - bare_us:.1f} us per transition, "
            f"{sf_us / bare_us:.0f}x the bare machine"
        )

        # (a) + (b): rollback cycles
        cycles = rollback_runs * CYCLES_PER_RUN
        sf_rb = median_time(lambda: stageflow_rollback_cycles(root, rollback_runs), repeats)
        bare_cycles = bare_runs * CYCLES_PER_RUN // 4
        bare_rb = median_time(lambda: bare_rollback_cycles(bare_runs // 4), repeats)
        sf_rb_us = per_move(sf_rb["median_s"], cycles * CYCLE_MOVES)
        bare_rb_us = per_move(bare_rb["median_s"], bare_cycles * CYCLE_MOVES)
        results["pipeline_rollback_cycles"] = {
            "what": f"rollback to stage {ROLLBACK_TO + 1} ({KEYS[ROLLBACK_TO]}) from stage "
            f"{ROLLBACK_FROM + 1}, then complete back to it ({CYCLE_MOVES} transitions a cycle, "
            f"{CYCLES_PER_RUN} cycles a run)",
            "cycles": cycles,
            "repeats": repeats,
            "median_s": round(sf_rb["median_s"], 4),
            "cycles_per_s": round(cycles / sf_rb["median_s"], 1),
            "transitions_per_s": round(cycles * CYCLE_MOVES / sf_rb["median_s"], 1),
            "us_per_transition": round(sf_rb_us, 2),
            "baseline": {
                "what": "bare transitions.Machine, 'rollback_<key>' and 'advance' triggers",
                "cycles": bare_cycles,
                "median_s": round(bare_rb["median_s"], 4),
                "cycles_per_s": round(bare_cycles / bare_rb["median_s"], 1),
                "us_per_transition": round(bare_rb_us, 3),
            },
            "overhead_us_per_transition": round(sf_rb_us - bare_rb_us, 2),
            "ratio_vs_bare": round(sf_rb_us / bare_rb_us, 1),
        }
        say("(a) rollback cycles, whole pipeline in memory:")
        say(
            f"    stageflow: {cycles / sf_rb['median_s']:10.0f} cycles/s "
            f"({sf_rb_us:8.1f} us per transition)"
        )
        say(
            f"(b) bare transitions: {bare_cycles / bare_rb['median_s']:10.0f} cycles/s "
            f"({bare_rb_us:8.2f} us per transition)"
        )
        say(
            f"    overhead: {sf_rb_us - bare_rb_us:.1f} us per transition, "
            f"{sf_rb_us / bare_rb_us:.0f}x the bare machine"
        )

        # (c) the pure core
        core_moves = core_runs * STAGES
        core = median_time(lambda: core_complete_runs(core_runs), repeats)
        core_us = per_move(core["median_s"], core_moves)
        results["core_complete"] = {
            "what": "lifecycle.check_complete + decide_complete + apply, no storage, no gates run",
            "transitions": core_moves,
            "repeats": repeats,
            "median_s": round(core["median_s"], 4),
            "transitions_per_s": round(core_moves / core["median_s"], 1),
            "us_per_transition": round(core_us, 2),
            "share_of_pipeline": round(core_us / sf_us, 3),
            "ratio_vs_bare": round(core_us / bare_us, 1),
        }
        say(
            f"(c) pure core (check + decide + apply): {core_moves / core['median_s']:10.0f} "
            f"transitions/s ({core_us:.1f} us each, {core_us / sf_us:.0%} of the pipeline)"
        )

        # (d) creating many runs
        say(f"(d) creating runs (medians of {init_repeats}):")
        created = scaling(lambda n: stageflow_init(root, n), init_counts, init_repeats)
        created["what"] = "Orchestrator.init on a MemoryStore, distinct features"
        created["repeats"] = init_repeats
        results["init_runs"] = created
        for count in init_counts:
            say(
                f"    stageflow init {count:>6}: {created['seconds'][str(count)]:8.3f} s "
                f"({created['us_per_item'][str(count)]:.1f} us per run)"
            )
        say(
            f"    ratio {init_counts[1]}/{init_counts[0]}: {created['ratio']} of medians, "
            f"{created['ratio_of_minimums']} of minimums (linear: {created['linear_ratio']})"
        )
        added = scaling(transitions_add_model, add_model_counts, 1, add_model_cap_s)
        added["what"] = "transitions Machine.add_model on one shared machine (one repeat)"
        added["cap_s"] = add_model_cap_s
        results["transitions_add_model"] = added
        for count in add_model_counts:
            if str(count) in added["seconds"]:
                say(
                    f"    transitions add_model {count:>6}: {added['seconds'][str(count)]:8.3f} s "
                    f"({added['us_per_item'][str(count)]:.1f} us per model)"
                )
        if "ratio" in added:
            say(
                f"    ratio {add_model_counts[1]}/{add_model_counts[0]}: {added['ratio']} "
                f"(linear: {added['linear_ratio']})"
            )
        if "skipped" in added:
            say(f"    {added['skipped']}")

    elapsed = time.perf_counter() - started
    say(f"total {elapsed:.1f} s")
    document = {
        "benchmark": "engine",
        "mode": "quick" if quick else "full",
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "stageflow": stageflow.__version__,
        "transitions": transitions.__version__,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "elapsed_s": round(elapsed, 1),
        "results": results,
    }
    print(json.dumps(document, separators=(",", ":")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

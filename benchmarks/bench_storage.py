"""Storage benchmark: durable stage transitions and contended claims, per backend.

Run it as ``python benchmarks/bench_storage.py [--quick]`` with the interpreter of the
environment stageflow is installed in (PostgreSQL also needs psycopg, which the ``test``
extra installs). It prints one line per figure and, as the last line, one JSON object with
every result. Each figure is the median over repeats; every baseline is measured in the
same run, on the same file system or server:

(1) **transitions per second** for each backend (``memory:`` as a non-durable reference,
    ``files``, ``sqlite``, ``postgresql``): an ``Orchestrator`` over the backend's run
    store, a two-stage workflow, ``default_gates=False``; one transition is one
    ``complete`` or ``rollback`` (each a load, a decision and a durable save), alternated
    on one feature (its history grows) and round-robin over many features; the SQL
    backends also with ``history_limit``;
(2) **the SQLite baseline**: a raw ``sqlite3`` loop of one INSERT and one COMMIT per
    iteration at the backend's own pragmas (WAL, ``synchronous=FULL``, the same
    ``busy_timeout``), in the same folder, with rows of a run document's size. Goal:
    transitions at least 0.8x the raw commits (``sqlite.meets_goal``); when missed, a
    cProfile of the transitions says where the time goes;
(3) **the PostgreSQL baseline**: a raw psycopg loop of one INSERT and one commit per
    iteration on the same server, with rows of the same size;
(4) **claims per second under 4 contending processes** (``forkserver`` or ``spawn``), for
    files, sqlite and postgresql: a feature of independent subtasks (200 with ``--quick``,
    1,000 otherwise), each process looping ``TaskTracker.claim`` + ``complete`` until none
    is left; every subtask is checked to be claimed and completed exactly once (the script
    exits 1 otherwise).

PostgreSQL: ``STAGEFLOW_TEST_POSTGRES_URL``, default
``postgresql://postgres@127.0.0.1:5432/test``; everything happens in a fresh schema
``bench_<pid>``, dropped at the end. When the server cannot be reached (or psycopg is not
installed), its figures are skipped and the JSON says why.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import gc
import io
import json
import multiprocessing
import os
import platform
import pstats
import sqlite3
import statistics
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

try:
    import stageflow
except ImportError:  # a source checkout without an installed stageflow
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import stageflow

from stageflow import Orchestrator, RuleViolation, TaskTracker
from stageflow.storage import Stores, open_stores
from stageflow.workflow import StageSpec, WorkflowSpec

FLIP = WorkflowSpec("bench-flip", [StageSpec("a", "A"), StageSpec("b", "B")])
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
HISTORY_LIMIT = 20
WORKERS = 4
SQLITE_GOAL = 0.8


def say(text: str = "") -> None:
    print(text, flush=True)


def with_query(url: str, **options: object) -> str:
    extra = "&".join(f"{key}={value}" for key, value in options.items())
    if not extra:
        return url
    return url + ("&" if "?" in url else "?") + extra


# -- (1) transitions -------------------------------------------------------------------------


def orchestrator(stores: Stores, root: str) -> Orchestrator:
    return Orchestrator(
        stores.runs, root=root, workflows=[FLIP], default_gates=False, actor="bench"
    )


def transitions(flow: Orchestrator, features: Sequence[str], count: int) -> float:
    """Seconds for ``count`` transitions, round-robin over ``features`` (each freshly
    initialised, stage ``a`` in progress): complete ``a``, roll back to ``a``, again."""
    done = [0] * len(features)
    gc.collect()
    start = time.perf_counter()
    for i in range(count):
        slot = i % len(features)
        if done[slot] % 2 == 0:
            flow.complete(features[slot], "a")
        else:
            flow.rollback(features[slot], "a", reason="bench")
        done[slot] += 1
    seconds = time.perf_counter() - start
    for slot, feature in enumerate(features):  # the moves really happened
        expected = "b" if done[slot] % 2 else "a"
        state = flow.status(feature)
        if state.current_stage != expected:
            raise SystemExit(f"{feature} ended at stage {state.current_stage}, expected {expected}")
    return seconds


def document_size(stores: Stores, features: Sequence[str]) -> int:
    sizes = []
    for feature in features:
        stored = stores.runs.latest(feature)
        assert stored is not None
        sizes.append(len(json.dumps(stored.document, separators=(",", ":")).encode()))
    return int(statistics.median(sizes))


def measure_transitions(
    url: str, root: str, tag: str, *, features: int, count: int, repeats: int
) -> Dict[str, Any]:
    """Median transitions per second of ``repeats`` runs on fresh features."""
    times: List[float] = []
    sizes: List[int] = []
    with open_stores(url, root) as stores:
        flow = orchestrator(stores, root)
        for r in range(repeats):
            names = [f"{tag}-r{r}-f{n}".replace("_", "-") for n in range(features)]
            for name in names:
                flow.init(name)
            times.append(transitions(flow, names, count))
            sizes.append(document_size(stores, names))
    median = statistics.median(times)
    return {
        "features": features,
        "transitions": count,
        "repeats": repeats,
        "median_s": round(median, 4),
        "min_s": round(min(times), 4),
        "transitions_per_s": round(count / median, 1),
        "us_per_transition": round(median / count * 1e6, 1),
        "final_document_bytes": int(statistics.median(sizes)),
    }


def profile_transitions(url: str, root: str, count: int, top: int = 20) -> Dict[str, Any]:
    """A cProfile of ``count`` transitions on 50 features: the functions with the most own
    time, and the share of time in a few telling places."""
    with open_stores(url, root) as stores:
        flow = orchestrator(stores, root)
        names = [f"profile-f{n}" for n in range(50)]
        for name in names:
            flow.init(name)
        profiler = cProfile.Profile()
        profiler.enable()
        transitions(flow, names, count)
        profiler.disable()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    raw: Dict[Tuple[str, int, str], Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values())
    rows = sorted(raw.items(), key=lambda item: item[1][2], reverse=True)[:top]
    hot = [
        {
            "function": f"{os.path.basename(where[0])}:{where[1]}({where[2]})",
            "calls": entry[1],
            "tottime_s": round(entry[2], 4),
            "share": round(entry[2] / total, 3) if total else 0.0,
        }
        for where, entry in rows
    ]

    def cumulative(module: str, function: str) -> float:
        return sum(
            float(entry[3])
            for where, entry in raw.items()
            if os.path.basename(where[0]) == module and where[2] == function
        )

    parts = {  # cumulative seconds of the places a transition spends its time
        "commit (SqlDatabase._end: COMMIT, the fsync)": cumulative("_sql.py", "_end"),
        "load (SqlRunStore.latest: SELECT + JSON parse)": cumulative("_sql.py", "latest"),
        "save (SqlRunStore.save: SELECT, UPDATE, JSON encode)": cumulative("_sql.py", "save"),
        "file locks (_filelock.file_lock)": cumulative("_filelock.py", "file_lock"),
        "decode (Engine._decode: check + structure the document)": cumulative(
            "engine.py", "_decode"
        ),
        "apply (lifecycle.apply)": cumulative("lifecycle.py", "apply"),
        "check before write (_rundoc.check_before_write)": cumulative(
            "_rundoc.py", "check_before_write"
        ),
        "unstructure (serde.run_to_document)": cumulative("serde.py", "run_to_document"),
    }
    wall = cumulative("bench_storage.py", "transitions")
    return {
        "transitions": count,
        "total_s": round(total, 4),
        "hot": hot,
        "wall_s": round(wall, 4),
        "cumulative_s": {k: round(v, 4) for k, v in parts.items()},
        "cumulative_share": {k: round(v / wall, 3) if wall else 0.0 for k, v in parts.items()},
    }


# -- (2) raw sqlite3 -------------------------------------------------------------------------


def raw_sqlite(path: str, row_bytes: int, count: int, busy_ms: int, synchronous: str) -> float:
    """Seconds for ``count`` iterations of BEGIN IMMEDIATE, one INSERT, COMMIT, at the
    SQLite backend's pragmas."""
    conn = sqlite3.connect(path, timeout=busy_ms / 1000, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
        conn.execute("PRAGMA journal_mode = WAL").fetchall()
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            raise SystemExit(f"raw sqlite3: journal_mode is {mode}, not wal")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS raw_rows (id INTEGER PRIMARY KEY, document TEXT NOT NULL)"
        )
        payload = "x" * row_bytes
        gc.collect()
        start = time.perf_counter()
        for _ in range(count):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO raw_rows (document) VALUES (?)", (payload,))
            conn.execute("COMMIT")
        return time.perf_counter() - start
    finally:
        conn.close()


def raw_sqlite_update(
    path: str, row_bytes: int, count: int, busy_ms: int, synchronous: str, rows: int = 50
) -> float:
    """For reference, the SQL a transition of the SQLite backend sends, by hand: read the
    document, BEGIN IMMEDIATE, read its version, UPDATE it, COMMIT, round-robin over
    ``rows`` rows of a table shaped like the backend's (same pragmas)."""
    conn = sqlite3.connect(path, timeout=busy_ms / 1000, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
        conn.execute("PRAGMA journal_mode = WAL").fetchall()
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS raw_runs (feature TEXT NOT NULL, run INTEGER NOT NULL,"
            " version INTEGER NOT NULL, revision TEXT NOT NULL, document TEXT NOT NULL,"
            " PRIMARY KEY (feature, run))"
        )
        payload = "x" * row_bytes
        conn.execute("BEGIN IMMEDIATE")
        for n in range(rows):
            conn.execute(
                "INSERT OR REPLACE INTO raw_runs VALUES (?, 1, 1, '1-0', ?)", (f"f{n}", payload)
            )
        conn.execute("COMMIT")
        gc.collect()
        start = time.perf_counter()
        for i in range(count):
            key = (f"f{i % rows}", 1)
            conn.execute(
                "SELECT revision, document FROM raw_runs WHERE feature = ? AND run = ?", key
            ).fetchall()
            conn.execute("BEGIN IMMEDIATE")
            (version,) = conn.execute(
                "SELECT version FROM raw_runs WHERE feature = ? AND run = ?", key
            ).fetchone()
            conn.execute(
                "UPDATE raw_runs SET version = ?, revision = ?, document = ?"
                " WHERE feature = ? AND run = ?",
                (version + 1, f"{version + 1}-0", payload, *key),
            )
            conn.execute("COMMIT")
        return time.perf_counter() - start
    finally:
        conn.close()


def sqlite_pragmas(url: str, root: str) -> Dict[str, Any]:
    """The pragmas the backend's connections really have (read back from one)."""
    with open_stores(url, root) as stores:
        db = stores.runs.db  # type: ignore[attr-defined]
        conn = db.state().conn
        return {
            "journal_mode": conn.execute("PRAGMA journal_mode").fetchone()[0],
            "synchronous": conn.execute("PRAGMA synchronous").fetchone()[0],
            "busy_timeout": conn.execute("PRAGMA busy_timeout").fetchone()[0],
            "synchronous_setting": db.synchronous,
            "busy_timeout_ms": db.busy_timeout_ms,
        }


# -- (3) raw psycopg -------------------------------------------------------------------------


def raw_postgres(conninfo: str, schema: str, row_bytes: int, count: int) -> float:
    """Seconds for ``count`` iterations of one INSERT and one commit."""
    import psycopg

    with psycopg.connect(conninfo) as conn:
        conn.execute(
            f'CREATE TABLE IF NOT EXISTS "{schema}".raw_rows'
            " (id BIGSERIAL PRIMARY KEY, document TEXT NOT NULL)"
        )
        conn.commit()
        payload = "x" * row_bytes
        gc.collect()
        start = time.perf_counter()
        for _ in range(count):
            conn.execute(f'INSERT INTO "{schema}".raw_rows (document) VALUES (%s)', (payload,))
            conn.commit()
        return time.perf_counter() - start


def postgres_available(base: str) -> Optional[str]:
    """``None`` when the server answers, else why not."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'stageflow[postgres]')"
    try:
        with psycopg.connect(with_query(base, connect_timeout=3), autocommit=True) as conn:
            conn.execute("SELECT 1").fetchone()
    except Exception as exc:  # any failure to connect: skip, never crash
        return f"cannot connect to {base.split('@')[-1]}: {' '.join(str(exc).split())[:200]}"
    return None


def drop_schema(base: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(with_query(base, connect_timeout=3), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# -- (4) contended claims --------------------------------------------------------------------


def seed_feature(url: str, root: str, feature: str, count: int) -> None:
    task = {
        "id": feature,
        "name": "Bench claims",
        "status": "active",
        "objective": "claims under contention",
        "created_at": "2026-01-01T00:00:00Z",
        "subtask_count": count,
        "completed_count": 0,
    }
    subtasks = {
        f"{n:04d}": {
            "id": f"{feature}-{n:04d}",
            "seq": f"{n:04d}",
            "title": f"Subtask {n}",
            "status": "pending",
            "depends_on": [],
            "parallel": True,
            "acceptance_criteria": ["done"],
            "deliverables": [f"src/{n}.py"],
        }
        for n in range(1, count + 1)
    }
    with open_stores(url, root) as stores:
        stores.tasks.create(feature, task, subtasks)


def claim_worker(url: str, root: str, feature: str, agent: str, start: Any, out: Any) -> None:
    """Claim and complete until nothing is left; report (agent, seqs, began, ended)."""
    seqs: List[str] = []
    error = None
    with open_stores(url, root) as stores:
        tracker = TaskTracker(stores.tasks)
        tracker.load(feature)  # connect and warm up before the clock starts
        start.wait()
        began = time.monotonic()
        try:
            while True:
                try:
                    moved = tracker.claim(feature, agent)
                except RuleViolation:
                    break
                seqs.append(str(moved.seq))
                tracker.complete(feature, str(moved.seq), "done")
        except Exception as exc:  # reported to the parent, which fails loudly
            error = f"{type(exc).__name__}: {exc}"
        ended = time.monotonic()
    out.put((agent, seqs, began, ended, error))


def measure_claims(url: str, root: str, feature: str, count: int) -> Dict[str, Any]:
    seed_feature(url, root, feature, count)
    methods = multiprocessing.get_all_start_methods()
    method = "forkserver" if "forkserver" in methods else "spawn"
    context: Any = multiprocessing.get_context(method)
    start = context.Event()
    out = context.Queue()
    workers = [
        context.Process(target=claim_worker, args=(url, root, feature, f"agent-{i}", start, out))
        for i in range(WORKERS)
    ]
    for worker in workers:
        worker.start()
    time.sleep(0.5)  # let every worker open its store and load the feature
    start.set()
    results = [out.get(timeout=1800) for _ in workers]
    for worker in workers:
        worker.join(60)
    errors = [f"{agent}: {error}" for agent, _, _, _, error in results if error]
    if errors:
        raise SystemExit(f"claims on {url}: a worker failed: {errors}")
    seconds = max(r[3] for r in results) - min(r[2] for r in results)
    claimed = collections.Counter(seq for r in results for seq in r[1])
    twice = sorted(seq for seq, n in claimed.items() if n > 1)
    expected = {f"{n:04d}" for n in range(1, count + 1)}
    missing = sorted(expected - set(claimed))
    with open_stores(url, root) as stores:
        stored = stores.tasks.load(feature)
        status = {str(f.seq): (f.document or {}).get("status") for f in stored.subtasks}
        task_done = (stored.task.document or {}).get("completed_count")
    not_done = sorted(seq for seq, s in status.items() if s != "completed")
    if twice or missing or not_done or len(status) != count or task_done != count:
        raise SystemExit(
            f"claims on {url}: claimed twice {twice[:10]}, never claimed {missing[:10]}, "
            f"not completed {not_done[:10]}, {len(status)} subtasks stored, "
            f"task.json completed_count {task_done} (expected {count})"
        )
    per_worker = {r[0]: len(r[1]) for r in results}
    return {
        "subtasks": count,
        "processes": WORKERS,
        "start_method": method,
        "seconds": round(seconds, 3),
        "claims_per_s": round(count / seconds, 1),
        "claims_per_worker": per_worker,
        "each_completed_exactly_once": True,
    }


# -- main ------------------------------------------------------------------------------------


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (a smoke run)")
    parser.add_argument("--no-claims", action="store_true", help="skip the claims (4)")
    args = parser.parse_args(argv)
    quick: bool = args.quick

    repeats = 2 if quick else 5
    one_count = 30 if quick else 300  # transitions on one feature per repeat
    many_features = 50
    many_count = 100 if quick else 500  # transitions round-robin over 50 features
    memory_factor = 4  # the memory store is fast: more transitions, steadier figures
    raw_count = 200 if quick else 1_000
    claims_count = 200 if quick else 1_000
    profile_count = 200 if quick else 500

    base_pg = os.environ.get("STAGEFLOW_TEST_POSTGRES_URL") or DEFAULT_POSTGRES
    schema = f"bench_{os.getpid()}"
    say(
        f"stageflow {stageflow.__version__}, Python {platform.python_version()}, SQLite "
        f"{sqlite3.sqlite_version} ({sys.executable})"
    )
    say(
        f"mode: {'quick' if quick else 'full'}; medians of {repeats} repeats; workflow "
        f"{FLIP.name!r} (2 stages): complete a / rollback to a, alternated"
    )
    started = time.perf_counter()
    results: Dict[str, Any] = {}
    pg_skip = postgres_available(base_pg)
    pg_url = with_query(base_pg, schema=schema)

    with tempfile.TemporaryDirectory(prefix="stageflow-bench-storage-") as tmp:
        root = os.path.join(tmp, "project")
        os.makedirs(root)
        results["where"] = {"tmp": tmp, "postgres": None if pg_skip else base_pg.split("@")[-1]}
        sqlite_url = "sqlite://" + os.path.join(tmp, "bench.db")
        backends: List[Tuple[str, str]] = [
            ("memory", "memory:"),
            ("files", "files://" + root),
            ("sqlite", sqlite_url),
            ("sqlite_history_limit", with_query(sqlite_url, history_limit=HISTORY_LIMIT)),
        ]
        if pg_skip is None:
            backends += [
                ("postgres", pg_url),
                ("postgres_history_limit", with_query(pg_url, history_limit=HISTORY_LIMIT)),
            ]
        try:
            # (1) transitions
            say()
            say("(1) durable transitions (complete or rollback: load + decide + save):")
            transitions_out: Dict[str, Any] = {}
            for name, url in backends:
                factor = memory_factor if name == "memory" else 1
                measure_transitions(url, root, f"{name}-warm", features=2, count=4, repeats=1)
                one = measure_transitions(
                    url,
                    root,
                    f"{name}-one",
                    features=1,
                    count=one_count,
                    repeats=repeats,
                )
                many = measure_transitions(
                    url,
                    root,
                    f"{name}-many",
                    features=many_features,
                    count=many_count * factor,
                    repeats=repeats,
                )
                transitions_out[name] = {
                    "url": url.split("@")[-1],
                    "one_feature": one,
                    "many_features": many,
                }
                say(
                    f"    {name:<24} one feature {one['transitions_per_s']:9.1f}/s "
                    f"({one['us_per_transition']:8.1f} us, doc {one['final_document_bytes']} B)"
                    f"   {many_features} features {many['transitions_per_s']:9.1f}/s "
                    f"({many['us_per_transition']:8.1f} us, doc "
                    f"{many['final_document_bytes']} B)"
                )
            if pg_skip is not None:
                transitions_out["postgres"] = {"skipped": pg_skip}
                say(f"    postgres: skipped ({pg_skip})")
            results["transitions"] = transitions_out
            row_bytes = transitions_out["sqlite"]["many_features"]["final_document_bytes"]

            # (2) the SQLite baseline
            pragmas = sqlite_pragmas(sqlite_url, root)
            raw_path = os.path.join(tmp, "raw.db")  # same folder, same file system
            raw_sqlite(
                raw_path, row_bytes, 20, pragmas["busy_timeout_ms"], pragmas["synchronous_setting"]
            )
            # Interleaved rounds, so a burst of disk load hits the three alike: sqlite
            # transitions (50 fresh features), raw INSERT + COMMIT, the same SQL by hand.
            sf_times: List[float] = []
            hl_times: List[float] = []
            raw_times: List[float] = []
            floor_times: List[float] = []
            busy, sync = pragmas["busy_timeout_ms"], pragmas["synchronous_setting"]
            rounds = repeats + 1
            for r in range(rounds):
                got = measure_transitions(
                    sqlite_url,
                    root,
                    f"cmp-{r}",
                    features=many_features,
                    count=many_count,
                    repeats=1,
                )
                sf_times.append(got["median_s"] / many_count)
                got = measure_transitions(
                    with_query(sqlite_url, history_limit=HISTORY_LIMIT),
                    root,
                    f"cmp-hl-{r}",
                    features=many_features,
                    count=many_count,
                    repeats=1,
                )
                hl_times.append(got["median_s"] / many_count)
                raw_times.append(raw_sqlite(raw_path, row_bytes, raw_count, busy, sync) / raw_count)
                floor_path = os.path.join(tmp, "floor.db")
                floor_times.append(
                    raw_sqlite_update(floor_path, row_bytes, raw_count, busy, sync) / raw_count
                )
            raw_median = statistics.median(raw_times) * raw_count
            raw_per_s = raw_count / raw_median
            floor_median = statistics.median(floor_times) * raw_count
            floor_per_s = raw_count / floor_median
            sf = 1 / statistics.median(sf_times)
            round_ratios = [raw / one for raw, one in zip(raw_times, sf_times)]
            sf_one = transitions_out["sqlite"]["one_feature"]["transitions_per_s"]
            sf_hl = 1 / statistics.median(hl_times)
            python_us = statistics.median(
                (one - floor) * 1e6 for one, floor in zip(sf_times, floor_times)
            )
            ratio = sf / raw_per_s
            met = ratio >= SQLITE_GOAL
            sqlite_out: Dict[str, Any] = {
                "pragmas": pragmas,
                "baseline": {
                    "what": "raw sqlite3: BEGIN IMMEDIATE, INSERT one row, COMMIT; same pragmas",
                    "row_bytes": row_bytes,
                    "commits": raw_count,
                    "rounds": rounds,
                    "median_s": round(raw_median, 4),
                    "commits_per_s": round(raw_per_s, 1),
                    "us_per_commit": round(raw_median / raw_count * 1e6, 1),
                },
                "sql_floor": {
                    "what": "for reference, the backend's SQL of one transition by hand: "
                    "SELECT, BEGIN IMMEDIATE, SELECT version, UPDATE, COMMIT (same pragmas)",
                    "row_bytes": row_bytes,
                    "transitions": raw_count,
                    "median_s": round(floor_median, 4),
                    "per_s": round(floor_per_s, 1),
                    "us_each": round(floor_median / raw_count * 1e6, 1),
                    "ratio_vs_raw": round(floor_per_s / raw_per_s, 3),
                },
                "python_us_per_transition": round(python_us, 1),
                "python_us_what": "median over rounds of (transition - sql_floor) per transition",
                "transitions": {
                    "what": "sqlite transitions, 50 fresh features a round, interleaved with "
                    "the baselines",
                    "rounds": rounds,
                    "transitions_per_round": many_count,
                    "transitions_per_s": round(sf, 1),
                    "us_per_transition": round(1e6 / sf, 1),
                    "history_limit_transitions_per_s": round(sf_hl, 1),
                },
                "round_ratios": [round(x, 3) for x in round_ratios],
                "ratio_vs_raw": round(ratio, 3),
                "ratio_one_feature_vs_raw": round(sf_one / raw_per_s, 3),
                "ratio_history_limit_vs_raw": round(sf_hl / raw_per_s, 3),
                "goal": SQLITE_GOAL,
                "meets_goal": met,
            }
            say()
            say(
                f"(2) raw sqlite3 commits ({pragmas['journal_mode']}, synchronous="
                f"{pragmas['synchronous_setting']}, {row_bytes} B rows): {raw_per_s:9.1f}/s "
                f"({raw_median / raw_count * 1e6:.1f} us each)"
            )
            say(
                f"    sqlite transitions / raw commits: {ratio:.2f} ({SQLITE_GOAL} goal: "
                f"{'met' if met else 'NOT met'}); one feature {sf_one / raw_per_s:.2f}, "
                f"history_limit={HISTORY_LIMIT} {sf_hl / raw_per_s:.2f}"
            )
            say(
                f"    for reference, the same SQL by hand (SELECT, BEGIN IMMEDIATE, SELECT, "
                f"UPDATE, COMMIT): {floor_per_s:9.1f}/s ({floor_median / raw_count * 1e6:.1f} us; "
                f"{floor_per_s / raw_per_s:.2f}x raw); the rest of a transition, "
                f"{python_us:.0f} us (median of the rounds), is stageflow's Python"
            )
            if not met:
                prof = profile_transitions(sqlite_url, root, profile_count)
                sqlite_out["profile"] = prof
                say(f"    cProfile of {profile_count} sqlite transitions on 50 features:")
                say("    where a transition's time goes (cumulative, overlapping):")
                for label, share in prof["cumulative_share"].items():
                    say(f"      {share:6.1%}  {label}")
                say("    hottest functions (own time):")
                for row in prof["hot"][:8]:
                    say(
                        f"      {row['share']:6.1%} {row['tottime_s']:8.4f} s "
                        f"{row['calls']:>7} calls  {row['function']}"
                    )
            results["sqlite"] = sqlite_out

            # (3) the PostgreSQL baseline
            if pg_skip is None:
                pg_bytes = transitions_out["postgres"]["many_features"]["final_document_bytes"]
                raw_postgres(base_pg, schema, pg_bytes, 20)
                pg_times: List[float] = []
                pg_sf_times: List[float] = []
                pg_hl_times: List[float] = []
                for r in range(repeats + 1):  # interleaved rounds, as for SQLite
                    for tag, url, into in (
                        ("pg", pg_url, pg_sf_times),
                        ("pghl", with_query(pg_url, history_limit=HISTORY_LIMIT), pg_hl_times),
                    ):
                        got = measure_transitions(
                            url,
                            root,
                            f"cmp-{tag}-{r}",
                            features=many_features,
                            count=many_count,
                            repeats=1,
                        )
                        into.append(got["median_s"] / many_count)
                    pg_times.append(raw_postgres(base_pg, schema, pg_bytes, raw_count) / raw_count)
                pg_median = statistics.median(pg_times) * raw_count
                pg_per_s = raw_count / pg_median
                pg_sf = 1 / statistics.median(pg_sf_times)
                pg_hl = 1 / statistics.median(pg_hl_times)
                results["postgres"] = {
                    "baseline": {
                        "what": "raw psycopg: one INSERT and one commit per iteration",
                        "row_bytes": pg_bytes,
                        "commits": raw_count,
                        "rounds": repeats + 1,
                        "median_s": round(pg_median, 4),
                        "commits_per_s": round(pg_per_s, 1),
                        "us_per_commit": round(pg_median / raw_count * 1e6, 1),
                    },
                    "transitions": {
                        "what": "postgres transitions, 50 fresh features a round, interleaved "
                        "with the baseline",
                        "transitions_per_round": many_count,
                        "transitions_per_s": round(pg_sf, 1),
                        "history_limit_transitions_per_s": round(pg_hl, 1),
                    },
                    "round_ratios": [round(a / b, 3) for a, b in zip(pg_times, pg_sf_times)],
                    "ratio_vs_raw": round(pg_sf / pg_per_s, 3),
                    "ratio_history_limit_vs_raw": round(pg_hl / pg_per_s, 3),
                }
                say(
                    f"(3) raw psycopg INSERT+commit ({pg_bytes} B rows): {pg_per_s:9.1f}/s; "
                    f"postgres transitions / raw: {pg_sf / pg_per_s:.2f} "
                    f"(history_limit={HISTORY_LIMIT}: {pg_hl / pg_per_s:.2f})"
                )
            else:
                results["postgres"] = {"skipped": pg_skip}
                say(f"(3) raw psycopg: skipped ({pg_skip})")

            # (4) claims under contention
            say()
            say(f"(4) claims under {WORKERS} contending processes ({claims_count} subtasks):")
            claims_out: Dict[str, Any] = {}
            claim_backends = [("files", "files://" + root), ("sqlite", sqlite_url)]
            if pg_skip is None:
                claim_backends.append(("postgres", pg_url))
            for name, url in claim_backends:
                if args.no_claims:
                    claims_out[name] = {"skipped": "--no-claims"}
                    continue
                got = measure_claims(url, root, f"claims-{name}", claims_count)
                claims_out[name] = got
                say(
                    f"    {name:<10} {got['claims_per_s']:8.1f} claims/s ({got['seconds']:.2f} s; "
                    f"per process {sorted(got['claims_per_worker'].values())}; each "
                    "completed exactly once)"
                )
            if pg_skip is not None:
                claims_out["postgres"] = {"skipped": pg_skip}
                say(f"    postgres: skipped ({pg_skip})")
            results["claims"] = claims_out
        finally:
            if pg_skip is None:
                try:
                    drop_schema(base_pg, schema)
                except Exception as exc:  # reported, never a crash at the very end
                    results["postgres_cleanup"] = f"cannot drop schema {schema}: {exc}"

    elapsed = time.perf_counter() - started
    say(f"total {elapsed:.1f} s")
    document = {
        "benchmark": "storage",
        "mode": "quick" if quick else "full",
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "stageflow": stageflow.__version__,
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "elapsed_s": round(elapsed, 1),
        "results": results,
    }
    print(json.dumps(document, separators=(",", ":")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

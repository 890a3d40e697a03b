"""``--store URL`` and ``STAGEFLOW_STORE`` on every command that reads or writes runs or task
files, bad URLs, and ``stageflow store copy|migrate|info``."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
from clihelp import cli, cli_json, heavy_imports
from test_store_copy import DEMO, content, make_source

import stageflow.storage
from stageflow import MemoryStore, MemoryTaskStore
from stageflow.examples import ORDER_MANAGEMENT
from stageflow.storage import Stores

SEED = ORDER_MANAGEMENT / "order-management-mvp"
FEATURE = "order-management-mvp"


@pytest.fixture(autouse=True)
def _no_store_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STAGEFLOW_STORE", raising=False)
    monkeypatch.delenv("STAGEFLOW_ROOT", raising=False)
    monkeypatch.setenv("STAGEFLOW_ACTOR", "tester")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


@pytest.fixture
def other(tmp_path: Path) -> Path:
    """Another folder, holding the seed's task files."""
    folder = tmp_path / "other"
    shutil.copytree(SEED, folder / ".tmp" / "tasks" / FEATURE)
    return folder


def url(folder: Path) -> str:
    return f"files://{folder}"


def sessions(folder: Path) -> List[str]:
    found = (folder / ".tmp" / "sessions").glob("*/stage-tracking.json")
    return sorted(p.parent.name.split("-", 3)[3] for p in found)


# -- which store ----------------------------------------------------------------------------


def test_store_option_then_environment_then_the_root(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given, env = tmp_path / "given", tmp_path / "env"
    given.mkdir()
    env.mkdir()
    monkeypatch.setenv("STAGEFLOW_STORE", url(env))
    assert cli(root, "stage", "init", "one", "--store", url(given)).code == 0
    assert cli(root, "stage", "init", "two").code == 0
    monkeypatch.setenv("STAGEFLOW_STORE", "")  # empty: not set
    assert cli(root, "stage", "init", "three").code == 0
    assert (sessions(given), sessions(env), sessions(root)) == (["one"], ["two"], ["three"])
    monkeypatch.setenv("STAGEFLOW_STORE", url(env))
    assert cli_json(root, "stage", "list")[1]["features"][0]["feature"] == "two"
    listed = cli_json(root, "stage", "list", "--store", "files")[1]  # the root's, by URL
    assert [row["feature"] for row in listed["features"]] == ["three"]


def test_every_command_family_uses_the_store_and_leaves_the_root_alone(
    root: Path, other: Path
) -> None:
    store = ("--store", url(other))
    before = content(other)

    # stage commands
    assert cli(root, "stage", "init", FEATURE, *store).code == 0
    argv = ("stage", "complete", FEATURE, "1", "--override", "--reason", "later", *store)
    assert cli(root, *argv).code == 0
    for command in ("status", "history", "graph"):
        assert cli(root, "stage", command, FEATURE, *store).code == 0, command
    assert cli(root, "stage", "context", FEATURE, "2", *store).code == 0
    code, listed = cli_json(root, "stage", "list", *store)
    assert [row["feature"] for row in listed["features"]] == [FEATURE]
    # the gates of the task breakdown read the task files of the store
    code, report = cli_json(root, "stage", "validate", FEATURE, "tasks", *store)
    codes = {f["code"] for v in report["verdicts"] for f in v["findings"]}
    assert "tasks-missing" not in codes

    # phase commands (a workflow with phases)
    argv = ("stage", "init", "phased", "--workflow", "plan-implement-test-final", *store)
    assert cli(root, *argv).code == 0
    assert cli(root, "phase", "start", "phased", "1.1", *store).code == 0
    assert cli(root, "phase", "complete", "phased", "1.1", *store).code == 0
    argv = ("phase", "fail", "phased", "1.2", "--reason", "no plan", *store)
    assert cli(root, "phase", "start", "phased", "1.2", *store).code == 0
    assert cli(root, *argv).code == 0

    # task commands
    for command in ("status", "next", "parallel", "blocked", "validate"):
        assert cli(root, "task", command, FEATURE, *store).code in (0, 1), command
    for command in ("batches", "critical-path", "graph"):
        assert cli(root, "task", command, FEATURE, *store).code == 0, command
    assert cli(root, "task", "deps", FEATURE, "07", *store).code == 0
    code, claimed = cli_json(root, "task", "claim", FEATURE, "--agent", "a1", *store)
    assert (code, claimed["subtask"]["seq"]) == (0, "01")
    assert cli(root, "task", "complete", FEATURE, "01", "set", "up", *store).code == 0
    assert cli(root, "task", "block", FEATURE, "02", "--reason", "wait", *store).code == 0
    assert cli(root, "task", "unblock", FEATURE, "02", *store).code == 0
    assert cli(root, "task", "reopen", FEATURE, "01", "--reason", "again", *store).code == 0
    agent = f'{sys.executable} -c "import sys; sys.stdin.read()"'
    argv = ("task", "run", FEATURE, "--command", agent, "--no-summary", *store)
    assert cli(root, *argv).code == 0
    code, status = cli_json(root, "task", "status", FEATURE, *store)
    assert status["completed_count"] == 12

    assert not (root / ".tmp").exists()  # nothing under the project root: not even locks
    assert sorted(sessions(other)) == [FEATURE, "phased"]
    after = content(other)
    assert after.keys() != before.keys()
    assert json.loads(after[f".tmp/tasks/{FEATURE}/subtask_12.json"])["status"] == "completed"


def test_the_hint_to_start_a_run_names_the_store(root: Path, other: Path) -> None:
    result = cli(root, "stage", "status", "nope", "--store", url(other))
    assert result.err == (
        "error: no run for feature 'nope'; start one with: "
        f"stageflow stage init nope --store {url(other)}\n"
    )


def test_the_default_is_the_files_store_under_the_root(root: Path, other: Path) -> None:
    assert cli(root, "stage", "init", "plain").code == 0
    assert sessions(root) == ["plain"]
    assert cli(root, "task", "status", FEATURE).code == 2  # the root has no task files
    assert cli(other, "task", "status", FEATURE).code == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["stage", "status", FEATURE],
        ["task", "status", FEATURE],
        ["task", "status"],
        ["stage", "list"],
    ],
)
def test_read_only_commands_on_a_store_url_import_nothing_heavy(
    root: Path, other: Path, argv: List[str]
) -> None:
    assert cli(root, "stage", "init", FEATURE, "--store", url(other)).code == 0
    assert heavy_imports(root, [*argv, "--store", url(other)]) == (0, [])


# -- bad URLs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("store", "message"),
    [
        ("bogus://x", "--store: unknown store URL 'bogus://x'"),
        ("bogus://ann:s3cret@db/x", "--store: unknown store URL 'bogus://ann:***@db/x'"),
        ("files://", "--store: store URL 'files://' needs a path"),
        ("files:///no/such/folder", "'/no/such/folder', which is not an existing folder"),
    ],
)
def test_a_bad_store_url_exits_2_naming_it_and_changes_nothing(
    root: Path, store: str, message: str
) -> None:
    for argv in (("stage", "init", "x"), ("task", "claim", "x", "--agent", "a")):
        result = cli(root, *argv, "--store", store)
        assert result.code == 2
        assert message in result.err
        assert "s3cret" not in result.err
        code, document = cli_json(root, *argv, "--store", store)
        assert code == 2
        assert document["ok"] is False
        assert document["error"] == "UsageError"
        assert message in document["message"]
    assert list(root.iterdir()) == []


def test_an_unreachable_database_exits_2_naming_it_without_its_password(root: Path) -> None:
    store = "postgresql://ann:s3cret@127.0.0.1:1/x"  # nothing listens on port 1
    for argv in (("stage", "status", "x"), ("task", "claim", "x", "--agent", "a")):
        result = cli(root, *argv, "--store", store)
        assert result.code == 2
        assert "postgresql://ann@127.0.0.1:1/x: cannot open the database" in result.err
        assert "s3cret" not in result.err
        code, document = cli_json(root, *argv, "--store", store)
        assert code == 2
        assert document["ok"] is False
        assert "s3cret" not in document["message"]
    assert list(root.iterdir()) == []


def test_a_bad_url_in_the_environment_is_named_as_such(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAGEFLOW_STORE", "nope:")
    code, document = cli_json(root, "stage", "status", "x")
    assert code == 2
    assert document["message"].startswith("STAGEFLOW_STORE: unknown store URL 'nope:'")


def test_a_backend_that_cannot_be_opened_is_a_usage_error(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(address: str, folder: Any = None) -> Stores:
        raise ConnectionRefusedError(f"connection to {address} refused")

    monkeypatch.setattr(stageflow.storage, "open_stores", refuse)
    code, document = cli_json(root, "stage", "status", "x", "--store", "pg://ann:pw@db/x")
    assert code == 2
    assert document["message"] == (
        "--store: cannot open store 'pg://ann:***@db/x' (ConnectionRefusedError: "
        "connection to pg://ann:***@db/x refused)"
    )


def test_the_stores_a_command_opened_are_closed_when_it_ends(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: List[str] = []

    def fake(address: str, folder: Any = None) -> Stores:
        runs = MemoryStore()
        return Stores(address, runs, MemoryTaskStore(), close=lambda: closed.append(address))

    monkeypatch.setattr(stageflow.storage, "open_stores", fake)
    assert cli(root, "stage", "init", "x", "--store", "fake:1").code == 0
    assert cli(root, "stage", "status", "x", "--store", "fake:2").code == 2  # NotFound
    assert cli(root, "task", "status", "--store", "fake:3").code == 0
    assert cli(root, "store", "migrate", "--store", "fake:4").code == 0
    assert closed == ["fake:1", "fake:2", "fake:3", "fake:4"]
    assert cli(root, "store", "copy", "fake:5", "fake:6").code == 0
    assert closed[4:] == ["fake:6", "fake:5"]


# -- store copy -----------------------------------------------------------------------------


def test_store_copy_round_trip_through_the_cli(root: Path, tmp_path: Path) -> None:
    source = make_source(tmp_path / "source")
    middle, back = tmp_path / "middle", tmp_path / "back"
    middle.mkdir()
    back.mkdir()
    result = cli(root, "store", "copy", url(source), url(middle))
    assert result.code == 0, result
    assert result.out.splitlines() == [
        f"Copied 3 of 3 features from {url(source)} to {url(middle)}:",
        "  billing: copied runs 1, 2, 3 and no task files",
        "  legacy: copied no runs and 13 task files",
        f"  {DEMO}: copied run 1 and 13 task files",
    ]
    code, report = cli_json(root, "store", "copy", url(middle), url(back))
    assert (code, report["ok"]) == (0, True)
    assert [f["status"] for f in report["features"]] == ["copied"] * 3
    assert content(back) == content(source)
    # the default source is the files store under the root
    code, report = cli_json(source, "store", "copy", "files", "memory:")
    assert (code, report["source"], report["destination"]) == (0, url(source), "memory:")


def test_store_copy_refuses_a_destination_that_holds_a_feature(root: Path, other: Path) -> None:
    target = root / "target"
    shutil.copytree(SEED, target / ".tmp" / "tasks" / FEATURE)
    before = content(target)
    code, document = cli_json(root, "store", "copy", url(other), url(target))
    assert code == 2
    assert document["error"] == "ConflictError"
    assert f"already holds feature(s) {FEATURE}; nothing was copied" in document["message"]
    assert content(target) == before
    result = cli(root, "store", "copy", url(other), url(other))
    assert result.code == 2
    assert "the same store" in result.err


def test_store_copy_reports_an_unreadable_source_file(root: Path, other: Path) -> None:
    shutil.copytree(SEED, other / ".tmp" / "tasks" / "second")
    (other / ".tmp" / "tasks" / FEATURE / "task.json").write_text("[1, 2]")
    target = root / "target"
    target.mkdir()
    code, report = cli_json(root, "store", "copy", url(other), url(target))
    assert code == 2
    assert report["ok"] is False
    skipped, copied = report["features"]
    assert (skipped["feature"], skipped["status"]) == (FEATURE, "skipped")
    assert skipped["problems"] == [
        f".tmp/tasks/{FEATURE}/task.json: expected a JSON object, found an array"
    ]
    assert (copied["feature"], copied["status"]) == ("second", "copied")
    assert not (target / ".tmp" / "tasks" / FEATURE).exists()
    result = cli(root, "store", "copy", url(other), "memory:")
    assert result.code == 2
    assert f"  {FEATURE}: SKIPPED, nothing written: a document cannot be read" in result.out
    assert "The copy is incomplete" in result.out


def test_store_copy_of_an_empty_store(root: Path) -> None:
    result = cli(root, "store", "copy", "files", "memory:")
    assert (result.code, result.out) == (0, f"Nothing to copy: {url(root)} holds no feature.\n")


def test_store_copy_with_a_bad_url_names_which_one(root: Path) -> None:
    code, document = cli_json(root, "store", "copy", "files", "nope://x")
    assert code == 2
    assert document["message"].startswith("DST: unknown store URL 'nope://x'")


# -- store migrate and info -----------------------------------------------------------------


def test_store_migrate_says_there_is_nothing_to_migrate(root: Path, other: Path) -> None:
    result = cli(root, "store", "migrate")
    assert (result.code, result.out) == (
        0,
        f"{url(root)}: nothing to migrate (this backend has no schema)\n",
    )
    code, document = cli_json(root, "store", "migrate", "--store", url(other))
    assert (code, document) == (
        0,
        {"ok": True, "store": url(other), "schema": False, "applied": []},
    )


def test_store_migrate_prints_what_a_backend_applied(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pending = ["0001-runs", "0002-tasks"]

    def fake(address: str, folder: Any = None) -> Stores:
        def migrate() -> List[str]:
            applied, pending[:] = list(pending), []
            return applied

        return Stores("db://ann@h/x", MemoryStore(), MemoryTaskStore(), migrate=migrate)

    monkeypatch.setattr(stageflow.storage, "open_stores", fake)
    result = cli(root, "store", "migrate", "--store", "db://ann:pw@h/x")
    assert result.out == "db://ann@h/x: applied 2 migration(s): 0001-runs, 0002-tasks\n"
    code, document = cli_json(root, "store", "migrate", "--store", "db://ann:pw@h/x")
    assert (code, document["schema"], document["applied"]) == (0, True, [])
    assert cli(root, "store", "migrate", "--store", "db:").out.endswith(
        "(the schema is up to date)\n"
    )


def test_store_info(root: Path, other: Path) -> None:
    assert cli(root, "stage", "init", "shop", "--store", url(other)).code == 0
    code, document = cli_json(root, "store", "info", "--store", url(other))
    expected: Dict[str, Any] = {
        "store": url(other),
        "backend": "files",
        "root": str(other),
        "features": 2,
        "run_features": 1,
        "task_features": 1,
    }
    assert (code, document) == (0, expected)
    result = cli(root, "store", "info", "--store", "memory:")
    assert result.out == "Store: memory: (memory)\n  Features: 0 (0 with runs, 0 with task files)\n"


def test_commands_without_a_store_refuse_the_option(root: Path) -> None:
    for argv in (("workflow", "list"), ("config", "show"), ("store", "copy", "files", "memory:")):
        result = cli(root, *argv, "--store", "memory:")
        assert result.code == 2
        assert "unrecognized arguments: --store" in result.err

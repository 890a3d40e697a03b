"""Layered configuration: defaults, user file, project file, overrides; every problem named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from clihelp import cli, cli_json

from stageflow.config import (
    DEFAULTS,
    ConfigError,
    StepSettings,
    load_config,
    parse_override,
    user_config_path,
)


def write(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return path


@pytest.fixture
def user(tmp_path: Path) -> Path:
    return tmp_path / "home" / "config.json"


def test_defaults_alone(tmp_path: Path, user: Path) -> None:
    config = load_config(tmp_path, user_file=str(user))
    assert config.data == DEFAULTS
    assert set(config.sources.values()) == {"default"}
    assert config.files == (
        ("user", str(user), False),
        ("project", str(tmp_path / ".stageflow" / "config.json"), False),
    )
    assert config.stage("anything") == StepSettings()


def test_layers_merge_maps_and_replace_the_rest(tmp_path: Path, user: Path) -> None:
    write(
        user,
        {"model": "sonnet", "executor": {"mode": "eager"}, "stages": {"test": {"max_retries": 5}}},
    )
    write(
        tmp_path / ".stageflow" / "config.json",
        {"executor": {"workers": 8}, "stages": {"test": {"enabled": False}}},
    )
    config = load_config(tmp_path, user_file=str(user), overrides=["executor.retries=1"])
    assert config.get("executor") == {
        "mode": "eager",
        "workers": 8,
        "retries": 1,
        "backoff": 1.0,
        "timeout": None,
    }
    assert config.stage("test") == StepSettings(enabled=False, model="sonnet", max_retries=5)
    assert config.sources["executor.mode"] == "user"
    assert config.sources["executor.workers"] == "project"
    assert config.sources["executor.retries"] == "override"
    assert config.sources["stages.test.enabled"] == "project"
    assert config.sources["executor.backoff"] == "default"
    assert "stages" not in config.sources  # the empty default map gave way to its keys


def test_lists_and_scalars_replace(tmp_path: Path, user: Path) -> None:
    write(user, {"stages": {"plan": {"model": "opus"}}})
    config = load_config(
        tmp_path, user_file=str(user), overrides={"stages": {"plan": {"model": "haiku"}}}
    )
    assert config.stage("plan").model == "haiku"
    assert config.sources["stages.plan.model"] == "override"


def test_unknown_keys_warn_and_are_ignored(tmp_path: Path, user: Path) -> None:
    project = write(
        tmp_path / ".stageflow" / "config.json",
        {"colour": "blue", "executor": {"speed": 11}, "stages": {"plan": {"mood": "good"}}},
    )
    config = load_config(tmp_path, user_file=str(user))
    assert config.warnings == (
        f"{project}: unknown key colour (ignored)",
        f"{project}: unknown key executor.speed (ignored)",
        f"{project}: unknown key stages.plan.mood (ignored)",
    )
    assert config.data == {**DEFAULTS, "stages": {"plan": {}}}


def test_every_invalid_value_is_named_with_its_file_and_path(tmp_path: Path, user: Path) -> None:
    write(user, {"executor": {"workers": 0, "timeout": 0}})
    project = write(
        tmp_path / ".stageflow" / "config.json",
        {"stages": {"test": {"enabled": "no", "on_exhausted": "maybe"}}, "review": "strict"},
    )
    with pytest.raises(ConfigError) as refused:
        load_config(tmp_path, user_file=str(user), overrides=["executor.backoff=-1"])
    assert refused.value.problems == (
        f"{user}: executor.workers: must be an integer >= 1, not 0",
        f"{user}: executor.timeout: must be a number of seconds > 0 or null, not 0",
        f"{project}: stages.test.enabled: must be true or false, not a string",
        f"{project}: stages.test.on_exhausted: must be one of continue, block, fail, not 'maybe'",
        f"{project}: review: must be an object, not a string",
        "override: executor.backoff: must be a number of seconds >= 0, not -1",
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"executor": ', "truncated JSON"),
        ("[1, 2]", "a configuration file holds a JSON object"),
        ("", "the file is empty"),
    ],
)
def test_a_file_that_is_not_a_json_object_is_named(
    tmp_path: Path, user: Path, text: str, problem: str
) -> None:
    project = write(tmp_path / ".stageflow" / "config.json", text)
    with pytest.raises(ConfigError) as refused:
        load_config(tmp_path, user_file=str(user))
    assert refused.value.problems[0].startswith(f"{project}: {problem}")


def test_overrides_are_read_as_json_when_they_are() -> None:
    assert parse_override("stages.test.enabled=false") == ("stages.test.enabled", False)
    assert parse_override("model=sonnet") == ("model", "sonnet")
    assert parse_override("executor.timeout=null") == ("executor.timeout", None)
    for bad in ("executor", "=3", "a..b=1"):
        with pytest.raises(ConfigError, match="is not KEY=VALUE"):
            parse_override(bad)


def test_the_user_file_location() -> None:
    assert user_config_path({"STAGEFLOW_CONFIG_HOME": "/c"}) == "/c/config.json"
    assert user_config_path({"XDG_CONFIG_HOME": "/x"}) == "/x/stageflow/config.json"
    assert user_config_path({}).endswith("/.config/stageflow/config.json")


def test_config_show(tmp_path: Path) -> None:
    write(tmp_path / ".stageflow" / "config.json", {"executor": {"workers": 8}})
    code, document = cli_json(tmp_path, "config", "show", "--set", "stages.test.enabled=false")
    assert code == 0
    assert document["config"]["executor"]["workers"] == 8
    assert document["sources"]["executor.workers"] == "project"
    assert document["sources"]["stages.test.enabled"] == "override"
    assert [f["layer"] for f in document["files"]] == ["user", "project"]
    text = cli(tmp_path, "config", "show").out.splitlines()
    assert "  executor.workers = 8  (project)" in text
    write(tmp_path / ".stageflow" / "config.json", {"executor": {"workers": "many"}})
    code, refused = cli_json(tmp_path, "config", "show")
    assert code == 2
    assert refused["error"] == "ConfigError"
    assert refused["problems"] == [
        f"{tmp_path / '.stageflow' / 'config.json'}: executor.workers: must be an integer >= 1, "
        "not 'many'"
    ]


def test_task_run_takes_its_defaults_from_the_configuration(tmp_path: Path) -> None:
    from stageflow.demo import write_outputs

    write_outputs(tmp_path, "tasks", "shop")
    write(tmp_path / ".stageflow" / "config.json", {"executor": {"mode": "eager", "retries": 0}})
    code, report = cli_json(tmp_path, "task", "run", "shop", "--command", "false")
    assert code == 1
    assert report["mode"] == "eager"
    assert report["outcomes"][0]["attempts"] == 1  # retries 0, from the project's file
    code, report = cli_json(
        tmp_path, "task", "run", "shop", "--command", "true", "--mode", "batches"
    )
    assert report["mode"] == "batches"  # an option beats the configuration


def test_stage_init_takes_the_workflow_and_the_switches_from_the_configuration(
    tmp_path: Path,
) -> None:
    write(
        tmp_path / ".stageflow" / "config.json",
        {
            "workflow": "plan-implement-test-final",
            "stages": {"test": {"enabled": False}, "release": {"enabled": False}},
            "phases": {"2.2": {"enabled": False}},
        },
    )
    code, started = cli_json(tmp_path, "stage", "init", "shop", "--skip", "4.2")
    assert code == 0, started
    status = started["status"]
    assert status["workflow"] == "plan-implement-test-final"
    stages = {s["key"]: s for s in status["stages"]}
    assert stages["test"]["status"] == "skipped"  # "release" is not a stage of it: ignored
    phases = {p["id"]: p["status"] for s in status["stages"] for p in s.get("phases", ())}
    assert (phases["2.2"], phases["4.2"], phases["2.1"]) == ("skipped", "skipped", "pending")

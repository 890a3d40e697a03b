"""Shared test setup: no test reads the configuration of the user running the suite."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_user_config(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    home = tmp_path_factory.mktemp("config-home")
    monkeypatch.setenv("STAGEFLOW_CONFIG_HOME", str(home))
    return home

"""Every backend of this repository passes the shipped conformance suite
(:mod:`stageflow.conformance`): memory, files, SQLite (with and without bounded history)
and PostgreSQL (skipped with a reason when no server is reachable)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from stageflow.storage import Stores, open_stores
from stageflow.testing import RunStoreContract, TaskStoreContract


class TestMemory(RunStoreContract, TaskStoreContract):
    @pytest.fixture
    def stores(self) -> Iterator[Stores]:
        with open_stores("memory:") as stores:
            yield stores


class TestFiles(RunStoreContract, TaskStoreContract):
    shares_between_processes = True

    @pytest.fixture
    def stores(self, tmp_path: Path) -> Iterator[Stores]:
        with open_stores("files://" + str(tmp_path / "project")) as stores:
            yield stores


class TestSqlite(RunStoreContract, TaskStoreContract):
    shares_between_processes = True
    transactional = True
    opener = "stageflow.storage.sqlite:open_sqlite"  # any "module:function" from a URL

    @pytest.fixture
    def stores(self, tmp_path: Path) -> Iterator[Stores]:
        with open_stores(f"sqlite://{tmp_path}/flow.db") as stores:
            yield stores


class TestSqliteBoundedHistory(RunStoreContract):
    transactional = True

    @pytest.fixture
    def stores(self, tmp_path: Path) -> Iterator[Stores]:
        with open_stores(f"sqlite://{tmp_path}/flow.db?history_limit=3") as stores:
            yield stores


class TestPostgres(RunStoreContract, TaskStoreContract):
    shares_between_processes = True
    transactional = True

    @pytest.fixture
    def stores(self, postgres_url: str) -> Iterator[Stores]:
        with open_stores(postgres_url) as stores:
            yield stores


class TestPostgresBoundedHistory(RunStoreContract):
    transactional = True

    @pytest.fixture
    def stores(self, postgres_url: str) -> Iterator[Stores]:
        with open_stores(postgres_url + "&history_limit=2") as stores:
            yield stores

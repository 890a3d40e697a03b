"""Helpers for testing code that uses stageflow, and a pytest plugin.

* :class:`FakeClock`: a clock you move by hand.
* :func:`make_orchestrator`: an orchestrator on an in-memory store with a fake clock.
* :func:`assert_history`: compare a run's history with expected ``(operation, outcome)`` pairs.
* :func:`assert_replays`: check that replaying a run's history reproduces the run.

Installed with stageflow, the pytest plugin provides the fixtures ``stageflow_clock``,
``stageflow_store`` and ``stageflow_orchestrator`` (rooted in ``tmp_path``).

With pytest installed, the storage conformance suite of :mod:`stageflow.conformance` is
here too: :class:`RunStoreContract` and :class:`TaskStoreContract`, test classes a backend
author subclasses with a ``stores`` fixture (see ``docs/testing.md``).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Optional, Sequence, Tuple, Union

if TYPE_CHECKING:
    from .engine import Orchestrator
    from .gates import Registry
    from .run import RunState
    from .storage import RunStore
    from .storage.memory import MemoryStore
    from .workflow import WorkflowSpec

__all__ = [
    "FakeClock",
    "assert_history",
    "assert_replays",
    "make_orchestrator",
    "stageflow_clock",
    "stageflow_orchestrator",
    "stageflow_store",
]

EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


class FakeClock:
    """A clock that only moves when told to; each :meth:`now` may advance by ``tick``."""

    def __init__(self, start: datetime = EPOCH, tick: timedelta = timedelta(seconds=1)) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start")
        self.current = start
        self.tick = tick

    def now(self) -> datetime:
        moment = self.current
        self.current += self.tick
        return moment

    def advance(self, **delta: float) -> datetime:
        """Move the clock forward by ``timedelta(**delta)``; return the new time."""
        self.current += timedelta(**delta)
        return self.current


def make_orchestrator(
    root: Union[str, Path] = ".",
    *,
    workflows: Optional[Sequence[WorkflowSpec]] = None,
    registry: Optional[Registry] = None,
    clock: Optional[FakeClock] = None,
    store: Optional[RunStore] = None,
    actor: str = "tester",
    default_gates: bool = True,
) -> Orchestrator:
    """An :class:`~stageflow.Orchestrator` on an in-memory store (or ``store``, any run
    store) and a fake clock (with the built-in workflows unless ``workflows`` are given)."""
    from .engine import Orchestrator
    from .storage.memory import MemoryStore

    return Orchestrator(
        store if store is not None else MemoryStore(),
        root=root,
        workflows=workflows or None,
        registry=registry,
        clock=clock or FakeClock(),
        actor=actor,
        default_gates=default_gates,
    )


def assert_history(run: RunState, expected: Iterable[Tuple[str, str]]) -> None:
    """Assert that the history of ``run`` is exactly ``expected`` ``(operation, outcome)`` pairs."""
    actual = [(e.operation, e.outcome.value) for e in run.history]
    wanted = [(op, getattr(outcome, "value", outcome)) for op, outcome in expected]
    if actual != wanted:
        raise AssertionError(f"history differs:\n  actual:   {actual}\n  expected: {wanted}")


def assert_replays(run: RunState, workflow: Optional[WorkflowSpec] = None) -> None:
    """Assert that replaying the history of ``run`` reproduces ``run`` exactly."""
    from .lifecycle import replay
    from .workflow import builtin_workflows

    if run.history and run.history[0].seq > 1:
        raise AssertionError(
            f"the history of run {run.run} of {run.feature!r} starts at event "
            f"{run.history[0].seq}: it is bounded; replay the whole history, from "
            "run_from_document(store.load_full(feature, run).document, location)"
        )
    spec = workflow or builtin_workflows()[run.workflow]
    rebuilt = replay(spec, run.feature, run.run, run.history)
    if rebuilt != run:
        raise AssertionError(f"replay differs from the run:\n  replay: {rebuilt}\n  run:    {run}")


# -- pytest plugin (entry point ``pytest11``) ------------------------------------------------

try:
    import pytest
except ImportError:  # pragma: no cover - the helpers above work without pytest
    pass
else:
    from .conformance import RunStoreContract, TaskStoreContract

    __all__ += ["RunStoreContract", "TaskStoreContract"]

    @pytest.fixture
    def stageflow_clock() -> FakeClock:
        """A :class:`FakeClock` starting at 2026-01-01T00:00:00Z, one second per reading."""
        return FakeClock()

    @pytest.fixture
    def stageflow_store() -> MemoryStore:
        """A fresh in-memory run store."""
        from .storage.memory import MemoryStore

        return MemoryStore()

    @pytest.fixture
    def stageflow_orchestrator(
        tmp_path: Path, stageflow_clock: FakeClock, stageflow_store: MemoryStore
    ) -> Orchestrator:
        """An orchestrator rooted in ``tmp_path`` on ``stageflow_store`` and ``stageflow_clock``."""
        return make_orchestrator(tmp_path, clock=stageflow_clock, store=stageflow_store)

"""stageflow: multi-stage delivery workflows for teams of AI agents and people.

Each stage of a workflow is a state of an explicit finite-state machine, guarded by gates
that return verdicts with every finding. Start with :class:`Orchestrator`::

    from stageflow import Orchestrator

    flow = Orchestrator(root=".")
    flow.init("checkout")

Names are imported lazily, so ``import stageflow`` (and the CLI) stays fast.
"""

from __future__ import annotations

# typing is imported only by type checkers: this module is on the CLI's fast path.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict

__version__ = "0.1.0.dev0"

_EXPORTS: Dict[str, str] = {
    "AttemptFailed": "executor",
    "Backoff": "executor",
    "Clock": "engine",
    "ConflictError": "errors",
    "EIGHT_STAGE": "workflow",
    "Event": "run",
    "ExecutionEvent": "executor",
    "ExecutionReport": "executor",
    "FileStore": "storage.files",
    "FileTaskStore": "storage.taskfiles",
    "Finding": "findings",
    "GateFailed": "errors",
    "GateRegistration": "gates",
    "HookRegistration": "gates",
    "InvalidName": "errors",
    "MemoryStore": "storage.memory",
    "MemoryTaskStore": "storage.taskmemory",
    "MoveResult": "tracker",
    "NotFound": "errors",
    "Orchestrator": "engine",
    "Outcome": "run",
    "Output": "workflow",
    "Override": "run",
    "PermanentFailure": "executor",
    "PhaseRecord": "run",
    "Refused": "errors",
    "Registry": "gates",
    "RuleViolation": "errors",
    "RunState": "run",
    "RunStatus": "run",
    "RunStore": "storage._port",
    "Severity": "findings",
    "StageContext": "gates",
    "StageRecord": "run",
    "StageSpec": "workflow",
    "StageStatus": "run",
    "StageflowError": "errors",
    "StateFileError": "errors",
    "StoredFeature": "storage._taskdocs",
    "StoredFile": "storage._taskdocs",
    "StoredRun": "storage._stored",
    "SystemClock": "engine",
    "TaskContext": "executor",
    "TaskOutcome": "executor",
    "TaskResult": "executor",
    "TaskStore": "storage._port",
    "TaskTracker": "tracker",
    "UnknownPhase": "errors",
    "UnknownStage": "errors",
    "UsageError": "errors",
    "Validation": "engine",
    "Verdict": "findings",
    "WorkflowDefinitionError": "errors",
    "WorkflowSpec": "workflow",
    "builtin_workflows": "workflow",
    "execute": "executor",
    "execute_async": "executor",
    "CopyReport": "storage.copy",
    "Stores": "storage._stores",
    "copy_stores": "storage.copy",
    "open_store": "storage",
    "open_stores": "storage",
    "outputs_exist": "gates",
    "replay": "lifecycle",
    "run_from_document": "serde",
    "run_to_document": "serde",
}

__all__ = [
    "AttemptFailed",
    "Backoff",
    "Clock",
    "ConflictError",
    "CopyReport",
    "EIGHT_STAGE",
    "Event",
    "ExecutionEvent",
    "ExecutionReport",
    "FileStore",
    "FileTaskStore",
    "Finding",
    "GateFailed",
    "GateRegistration",
    "HookRegistration",
    "InvalidName",
    "MemoryStore",
    "MemoryTaskStore",
    "MoveResult",
    "NotFound",
    "Orchestrator",
    "Outcome",
    "Output",
    "Override",
    "PermanentFailure",
    "PhaseRecord",
    "Refused",
    "Registry",
    "RuleViolation",
    "RunState",
    "RunStatus",
    "RunStore",
    "Severity",
    "StageContext",
    "StageRecord",
    "StageSpec",
    "StageStatus",
    "StageflowError",
    "StateFileError",
    "StoredFeature",
    "StoredFile",
    "StoredRun",
    "Stores",
    "SystemClock",
    "TaskContext",
    "TaskOutcome",
    "TaskResult",
    "TaskStore",
    "TaskTracker",
    "UnknownPhase",
    "UnknownStage",
    "UsageError",
    "Validation",
    "Verdict",
    "WorkflowDefinitionError",
    "WorkflowSpec",
    "__version__",
    "builtin_workflows",
    "copy_stores",
    "execute",
    "execute_async",
    "open_store",
    "open_stores",
    "outputs_exist",
    "replay",
    "run_from_document",
    "run_to_document",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'stageflow' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from .engine import Clock, Orchestrator, SystemClock, Validation
    from .errors import (
        ConflictError,
        GateFailed,
        InvalidName,
        NotFound,
        Refused,
        RuleViolation,
        StageflowError,
        StateFileError,
        UnknownPhase,
        UnknownStage,
        UsageError,
        WorkflowDefinitionError,
    )
    from .executor import (
        AttemptFailed,
        Backoff,
        ExecutionEvent,
        ExecutionReport,
        PermanentFailure,
        TaskContext,
        TaskOutcome,
        TaskResult,
        execute,
        execute_async,
    )
    from .findings import Finding, Severity, Verdict
    from .gates import GateRegistration, HookRegistration, Registry, StageContext, outputs_exist
    from .lifecycle import replay
    from .run import (
        Event,
        Outcome,
        Override,
        PhaseRecord,
        RunState,
        RunStatus,
        StageRecord,
        StageStatus,
    )
    from .serde import run_from_document, run_to_document
    from .storage import RunStore, StoredRun, Stores, open_store, open_stores
    from .storage._port import TaskStore
    from .storage._taskdocs import StoredFeature, StoredFile
    from .storage.copy import CopyReport, copy_stores
    from .storage.files import FileStore
    from .storage.memory import MemoryStore
    from .storage.taskfiles import FileTaskStore
    from .storage.taskmemory import MemoryTaskStore
    from .tracker import MoveResult, TaskTracker
    from .workflow import EIGHT_STAGE, Output, StageSpec, WorkflowSpec, builtin_workflows

"""Every error stageflow raises.


The tree::

    StageflowError                  root; ``exit_code`` is what the CLI exits with
    ├── UsageError                  bad argument from the caller (exit 2)
    │   ├── InvalidName             feature, stage or workflow name of the wrong shape
    │   ├── UnknownStage            a stage number or key the workflow does not have
    │   ├── UnknownPhase            a phase id the workflow does not have
    │   ├── linerange.LineRangeError        an invalid line range
    │   └── graph.GraphError                a task graph that cannot be ordered
    │       ├── graph.UnknownTask           a seq the graph does not have
    │       └── graph.DependencyCycleError  the graph has cycles (``cycles`` lists them all)
    ├── NotFound                    no run / workflow under that name (exit 2)
    ├── StateFileError              a stored document is unreadable or malformed (exit 2)
    ├── ConflictError               the document changed since it was read (exit 2)
    ├── ProblemsError               a definition with problems; ``problems`` lists them all
    │   ├── WorkflowDefinitionError a workflow definition is inconsistent (exit 2)
    │   └── config.ConfigError      the configuration has values that cannot be used
    └── Refused                     a rule or gate said no (exit 1); carries ``findings``
        ├── RuleViolation           one of the gating rules forbids the operation
        └── GateFailed              exit or entry gates failed; the stage is now ``failed``

Errors carry the fields a caller branches on (``feature``, ``stage``, ``findings``,
``path``) and pickle cleanly: every constructor argument is kept in ``args``.

This module imports nothing heavy: the CLI's fast path depends on it.
"""

from __future__ import annotations

# typing is imported only by type checkers: this module is on the CLI's fast path.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterable, Optional, Sequence

__all__ = [
    "ConflictError",
    "GateFailed",
    "InvalidName",
    "NotFound",
    "ProblemsError",
    "Refused",
    "RuleViolation",
    "StageflowError",
    "StateFileError",
    "UnknownPhase",
    "UnknownStage",
    "UsageError",
    "WorkflowDefinitionError",
]


class StageflowError(Exception):
    """Root of every error stageflow raises."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (used by ``--json``)."""
        return {"error": type(self).__name__, "message": self.message}


class UsageError(StageflowError):
    """The caller passed an argument that cannot be used."""


class InvalidName(UsageError):
    """A feature, stage or workflow name does not have the required shape."""


class UnknownStage(UsageError):
    """A stage number or key that the workflow does not define."""

    def __init__(self, message: str, stage: str = "", workflow: str = "") -> None:
        super().__init__(message)
        self.args = (message, stage, workflow)
        self.stage = stage
        self.workflow = workflow


class UnknownPhase(UsageError):
    """A phase id that the workflow does not define."""

    def __init__(self, message: str, phase: str = "", workflow: str = "") -> None:
        super().__init__(message)
        self.args = (message, phase, workflow)
        self.phase = phase
        self.workflow = workflow

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "phase": self.phase, "workflow": self.workflow}


class NotFound(StageflowError):
    """Nothing is stored under the requested name."""

    def __init__(self, message: str, feature: str = "") -> None:
        super().__init__(message)
        self.args = (message, feature)
        self.feature = feature


class StateFileError(StageflowError):
    """A stored document could not be read, parsed or understood.

    ``path`` names the file (or store location); ``problem`` says what is wrong with it.
    """

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.args = (path, problem)
        self.path = path
        self.problem = problem

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "path": self.path, "problem": self.problem}


class ConflictError(StageflowError):
    """A document was changed by someone else between read and write."""

    def __init__(self, message: str, location: str = "") -> None:
        super().__init__(message)
        self.args = (message, location)
        self.location = location


class ProblemsError(StageflowError):
    """Something the caller wrote has problems: ``problems`` lists every one, and the
    message is :attr:`what` followed by them."""

    what = "invalid definition"

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(f"{self.what}: " + "; ".join(self.problems))
        self.args = (self.problems,)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "problems": list(self.problems)}


class WorkflowDefinitionError(ProblemsError):
    """A workflow definition is inconsistent; ``problems`` lists every problem."""

    what = "invalid workflow definition"


class Refused(StageflowError):
    """An operation was refused by a gating rule or a gate.

    ``findings`` holds every finding (``stageflow.Finding`` values) that led to the refusal;
    ``run`` is the run state after the refusal was recorded in the history, if any.
    """

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        feature: str = "",
        stage: Optional[str] = None,
        findings: Sequence[Any] = (),
        run: Any = None,
    ) -> None:
        super().__init__(message)
        self.operation = operation
        self.feature = feature
        self.stage = stage
        self.findings = tuple(findings)
        self.run = run

    def __str__(self) -> str:
        errors = [
            str(getattr(f, "message", f))
            for f in self.findings
            if str(getattr(getattr(f, "severity", "error"), "value", "error")) == "error"
        ]
        return self.message + (": " + "; ".join(errors) if errors else "")

    def __reduce__(self) -> Any:
        kwargs = {
            "operation": self.operation,
            "feature": self.feature,
            "stage": self.stage,
            "findings": self.findings,
            "run": self.run,
        }
        return (_rebuild_refused, (type(self), self.message, kwargs))

    def to_dict(self) -> dict[str, Any]:
        from ._render import finding_to_dict

        return {
            **super().to_dict(),
            "operation": self.operation,
            "feature": self.feature,
            "stage": self.stage,
            "findings": [finding_to_dict(f) for f in self.findings],
        }


def _rebuild_refused(cls: type[Refused], message: str, kwargs: dict[str, Any]) -> Refused:
    return cls(message, **kwargs)


class RuleViolation(Refused):
    """One of the gating rules forbids the operation; nothing changed but the history."""


class GateFailed(Refused):
    """Gates failed while completing a stage: the stage is now ``failed`` with the findings."""

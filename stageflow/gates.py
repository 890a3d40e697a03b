"""Gates, compensation hooks, and the registry an application fills with them.

A *gate* is any callable that takes a read-only :class:`StageContext` and returns a
:class:`~stageflow.findings.Verdict` -- or an iterable of
:class:`~stageflow.findings.Finding`, which becomes a verdict that fails on any error
finding. *Entry* gates say whether a stage is ready; *exit* gates validate its outputs.
A gate that raises becomes a failed verdict carrying the exception; it never crashes a run.

A *compensation hook* is a callable that takes a :class:`StageContext` and undoes the
effects of a stage when the stage is rolled back (gating rule 5).

Registering a custom gate is one line::

    registry.add_gate("architecture", check_adrs_exist)
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union

import attrs

from .errors import UsageError
from .findings import Finding, Verdict
from .run import RunState
from .storage._port import TaskStore
from .workflow import KEY_PATTERN, StageSpec, WorkflowSpec

__all__ = [
    "Gate",
    "GateRegistration",
    "Hook",
    "HookRegistration",
    "Registry",
    "StageContext",
    "evaluate_gate",
    "match_output",
    "outputs_exist",
]

ENTRY = "entry"
EXIT = "exit"


@attrs.frozen
class StageContext:
    """What a gate or hook may look at. Every field is read-only.

    ``outputs`` are the outputs the caller registered for this operation (for example with
    ``complete --output PATH``); the stage's declared outputs are in ``stage.outputs`` and,
    resolved for this feature, in :attr:`declared_outputs`. Project files (documents,
    outputs, deliverables) are under ``root``; the feature's task files are in ``tasks``,
    the task store the run uses (``None``: the files store under ``root``, see
    :attr:`task_store`).
    """

    feature: str
    workflow: WorkflowSpec
    stage: StageSpec
    run: RunState
    root: Path
    outputs: Tuple[str, ...] = ()
    reason: Optional[str] = None
    tasks: Optional[TaskStore] = None

    @property
    def task_store(self) -> TaskStore:
        """Where the feature's task files are: :attr:`tasks`, else the files store under
        :attr:`root`."""
        if self.tasks is not None:
            return self.tasks
        from .storage.taskfiles import FileTaskStore

        return FileTaskStore(self.root)

    @property
    def number(self) -> int:
        """The stage's 1-based number."""
        return self.workflow.number(self.stage.key)

    @property
    def declared_outputs(self) -> Tuple[str, ...]:
        """The stage's declared output paths (patterns) for this feature."""
        resolved = (o.resolve(self.feature) for o in self.stage.outputs)
        return tuple(p for p in resolved if p is not None)

    def path(self, relative: str) -> Path:
        """``relative`` joined to the project root; refuses paths that leave the root."""
        return safe_join(self.root, relative)


GateResult = Union[Verdict, Iterable[Finding]]
Gate = Callable[[StageContext], GateResult]
Hook = Callable[[StageContext], object]


@attrs.frozen
class GateRegistration:
    """A gate registered for one stage."""

    stage: str
    name: str
    gate: Gate = attrs.field(eq=False)
    kind: str = EXIT
    overridable: bool = True


@attrs.frozen
class HookRegistration:
    """A compensation hook registered for one stage."""

    stage: str
    name: str
    hook: Hook = attrs.field(eq=False)


def _name_of(fn: object) -> str:
    return str(getattr(fn, "__name__", None) or type(fn).__name__).replace("_", "-")


class Registry:
    """The gates and compensation hooks an application registers, by stage key.

    The registry is explicit: nothing is looked up by dotted path or evaluated from text.
    """

    def __init__(self) -> None:
        self._gates: Dict[str, List[GateRegistration]] = {}
        self._hooks: Dict[str, List[HookRegistration]] = {}
        self._named_gates: Dict[str, Tuple[Gate, bool]] = {}
        self._named_hooks: Dict[str, Hook] = {}

    # -- named gates and hooks, for workflow documents --------------------------------

    def define_gate(self, name: str, gate: Gate, *, overridable: bool = True) -> None:
        """Make ``gate`` known as ``name``, for the ``gates`` of workflow documents (and
        :attr:`StageSpec.entry_gates` / :attr:`StageSpec.exit_gates`)."""
        self._define(name, gate, "gate", self._named_gates)
        self._named_gates[name] = (gate, overridable)

    def define_hook(self, name: str, hook: Hook) -> None:
        """Make ``hook`` known as ``name``, for the ``compensations`` of workflow documents
        (:attr:`StageSpec.compensations`)."""
        self._define(name, hook, "hook", self._named_hooks)
        self._named_hooks[name] = hook

    @staticmethod
    def _define(name: str, fn: object, what: str, known: Mapping[str, object]) -> None:
        if not isinstance(name, str) or not KEY_PATTERN.match(name):
            raise UsageError(
                f"a {what} name is lowercase letters, digits, '-' or '_', not {name!r}"
            )
        if not callable(fn):
            raise UsageError(f"{what} {name!r} is not callable: {fn!r}")
        if name in known:
            raise UsageError(f"a {what} named {name!r} is already defined")

    def named_gate(self, name: str) -> Optional[Tuple[Gate, bool]]:
        """The gate defined as ``name`` and whether it is overridable, or ``None``."""
        return self._named_gates.get(name)

    def named_hook(self, name: str) -> Optional[Hook]:
        """The hook defined as ``name``, or ``None``."""
        return self._named_hooks.get(name)

    @property
    def gate_names(self) -> Tuple[str, ...]:
        """The names of the gates defined with :meth:`define_gate`, sorted."""
        return tuple(sorted(self._named_gates))

    @property
    def hook_names(self) -> Tuple[str, ...]:
        """The names of the hooks defined with :meth:`define_hook`, sorted."""
        return tuple(sorted(self._named_hooks))

    def add_gate(
        self,
        stage: str,
        gate: Gate,
        *,
        kind: str = EXIT,
        name: Optional[str] = None,
        overridable: bool = True,
    ) -> GateRegistration:
        """Register ``gate`` as an ``exit`` (default) or ``entry`` gate of ``stage``."""
        if kind not in (ENTRY, EXIT):
            raise UsageError(f"gate kind must be 'entry' or 'exit', not {kind!r}")
        if not callable(gate):
            raise UsageError(f"gate for stage {stage!r} is not callable: {gate!r}")
        registration = GateRegistration(
            stage=stage,
            name=name or _name_of(gate),
            gate=gate,
            kind=kind,
            overridable=overridable,
        )
        self._gates.setdefault(stage, []).append(registration)
        return registration

    def gate(
        self, stage: str, *, kind: str = EXIT, name: Optional[str] = None, overridable: bool = True
    ) -> Callable[[Gate], Gate]:
        """Decorator form of :meth:`add_gate`."""

        def register(fn: Gate) -> Gate:
            self.add_gate(stage, fn, kind=kind, name=name, overridable=overridable)
            return fn

        return register

    def add_compensation(
        self, stage: str, hook: Hook, *, name: Optional[str] = None
    ) -> HookRegistration:
        """Register a compensation hook run when ``stage`` is rolled back."""
        if not callable(hook):
            raise UsageError(f"hook for stage {stage!r} is not callable: {hook!r}")
        registration = HookRegistration(stage=stage, name=name or _name_of(hook), hook=hook)
        self._hooks.setdefault(stage, []).append(registration)
        return registration

    def gates_for(self, stage: str, kind: str) -> Tuple[GateRegistration, ...]:
        """The ``entry`` or ``exit`` gates registered for ``stage``, in registration order."""
        return tuple(g for g in self._gates.get(stage, ()) if g.kind == kind)

    def compensations_for(self, stage: str) -> Tuple[HookRegistration, ...]:
        """The compensation hooks registered for ``stage``, in registration order."""
        return tuple(self._hooks.get(stage, ()))

    @property
    def stages(self) -> Tuple[str, ...]:
        """Every stage key something is registered for."""
        return tuple(sorted(set(self._gates) | set(self._hooks)))


def evaluate_gate(registration: GateRegistration, context: StageContext) -> Verdict:
    """Run one gate and return its verdict; an exception or a bad return becomes a failure.

    The verdict's ``overridable`` is false when either the registration or the stage
    (``exit_overridable``) forbids overriding an exit gate.
    """
    overridable = registration.overridable and (
        registration.kind == ENTRY or context.stage.exit_overridable
    )
    gate_name = f"{registration.kind}:{registration.name}"
    try:
        result = registration.gate(context)
        if isinstance(result, Verdict):
            findings: Tuple[Finding, ...] = result.findings
            passed = result.passed
        elif isinstance(result, (bool, str, bytes)) or result is None:  # type: ignore[unreachable]
            raise TypeError(
                f"a gate must return a Verdict or findings, not {type(result).__name__}"
            )
        else:
            findings = tuple(result)
            bad = [f for f in findings if not isinstance(f, Finding)]
            if bad:
                raise TypeError(f"a gate returned a non-Finding item: {bad[0]!r}")
            passed = not any(f.is_error for f in findings)
        findings = tuple(_checked(f) for f in findings)
    except Exception as exc:  # a gate never crashes the run
        finding = Finding(
            "gate-error",
            f"gate {registration.name!r} raised {type(exc).__name__}: {exc}",
            recommendation="fix the gate; its failure counts as a failed verdict",
        )
        return Verdict(gate_name, False, (finding,), overridable, registration.kind)
    return Verdict(gate_name, passed, findings, overridable, registration.kind)


def _checked(finding: Finding) -> Finding:
    """``finding`` made storable: paths as text; a value that cannot be stored is an error."""
    path: object = finding.path  # gates are user code: a Path may arrive here
    if isinstance(path, os.PathLike):
        finding = attrs.evolve(finding, path=os.fspath(path))
    for name in ("code", "message"):  # gates are user code: types are not guaranteed
        value = getattr(finding, name)
        if not isinstance(value, str) or (name == "code" and not value):
            raise TypeError(f"a finding's {name} must be a non-empty string, not {value!r}")
    for name in ("path", "pointer", "recommendation"):
        value = getattr(finding, name)
        if value is not None and not isinstance(value, str):
            raise TypeError(f"a finding's {name} must be a string or None, not {value!r}")
    return finding


def safe_join(root: Path, relative: str) -> Path:
    """``root / relative``, refusing absolute paths and paths that climb out of ``root``."""
    candidate = Path(relative)
    if candidate.is_absolute() or ".." in candidate.parts:
        raise UsageError(f"path {relative!r} must be relative and stay inside {root}")
    return root / candidate


def match_output(root: Path, pattern: str) -> List[Path]:
    """Files and folders under ``root`` matching the output ``pattern``, sorted.

    Matches that resolve outside ``root`` (through a symbolic link) are dropped.
    """
    safe_join(root, pattern)  # refuses absolute paths and '..'
    if glob.has_magic(pattern):
        # Only the pattern may hold wildcards: a root named "proj[1]" is literal.
        found = [
            Path(p)
            for p in glob.glob(os.path.join(glob.escape(str(root)), pattern), recursive=True)
        ]
    else:
        found = [root / pattern]
    found = [p for p in found if p.exists()]  # also drops dangling symbolic links
    real_root = os.path.realpath(root)
    inside = [p for p in found if os.path.commonpath([real_root, os.path.realpath(p)]) == real_root]
    return sorted(inside)


def outputs_exist(context: StageContext) -> List[Finding]:
    """The default exit gate: every declared output exists and is not empty.

    A file must have content; a folder must hold at least one entry; a pattern must match at
    least one such path. Outputs without a path (documentation only) are not checked.
    """
    findings: List[Finding] = []
    for pattern in context.declared_outputs:
        matches = match_output(context.root, pattern)
        if not matches:
            findings.append(
                Finding(
                    "output-missing",
                    f"stage {context.stage.key!r}: expected output {pattern!r} does not exist",
                    path=pattern,
                    recommendation=f"create {pattern} (relative to {context.root})",
                )
            )
            continue
        for match in matches:
            relative = match.relative_to(context.root).as_posix()
            empty = not any(match.iterdir()) if match.is_dir() else match.stat().st_size == 0
            if empty:
                findings.append(
                    Finding(
                        "output-empty",
                        f"stage {context.stage.key!r}: output {relative!r} is empty",
                        path=relative,
                        recommendation=f"write the content of {relative}",
                    )
                )
    return findings

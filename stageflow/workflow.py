"""Workflow definitions: frozen values describing ordered stages.

A :class:`WorkflowSpec` is plain data. The engine works for any ordered list of stages;
:data:`EIGHT_STAGE` is the built-in 8-stage delivery workflow of the seed documents.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Set, Tuple, Union

import attrs

from .errors import UnknownStage, UsageError, WorkflowDefinitionError

__all__ = [
    "EIGHT_STAGE",
    "PHASE_KINDS",
    "PLAN_IMPLEMENT_TEST_FINAL",
    "Output",
    "PhaseSpec",
    "StageSpec",
    "WorkflowSpec",
    "builtin_workflows",
]

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*\Z")  # \Z: "$" would accept a final newline
WORKFLOW_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*\Z")
_NAME_RULE = "must be lowercase letters, digits, '-' or '_', starting with a letter"
PHASE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z")

#: The kinds of phase: ``work`` (one agent), ``dispatch`` (fan-out over the planner's
#: batches), ``review`` (a review/fix loop), ``inline`` (recorded, never dispatched) and
#: ``command`` (runs a command).
PHASE_KINDS: Tuple[str, ...] = ("work", "dispatch", "review", "inline", "command")


def _tuple_of_str(value: object) -> Tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)  # type: ignore[arg-type]


def _outputs(items: Iterable[Output]) -> Tuple[Output, ...]:
    return tuple(items)


def _stages(items: Iterable[StageSpec]) -> Tuple[StageSpec, ...]:
    return tuple(items)


def _phases(items: Iterable[PhaseSpec]) -> Tuple[PhaseSpec, ...]:
    return tuple(items)


@attrs.frozen
class Output:
    """One declared output of a stage.

    ``path`` is a path relative to the project root, with ``{feature}`` replaced by the
    feature name; its last parts may be glob patterns (``*``, ``**``). An output with no
    ``path`` is documentation only (for example "Deployed feature") and is not checked
    by the default exit gate.

    ``artifact`` names what the file is (``"contexts"``, ``"story-map"``, ...): the content
    gates of :mod:`stageflow.content_gates` find their artifacts by these names in the
    workflow, so a workflow that declares an artifact elsewhere relocates it for every gate
    (see :meth:`WorkflowSpec.relocate`).
    """

    description: str
    path: Optional[str] = None
    artifact: Optional[str] = None

    def resolve(self, feature: str) -> Optional[str]:
        """The output's path for ``feature``, or ``None`` for a documentation-only output."""
        return None if self.path is None else self.path.replace("{feature}", feature)


FIXED_ARTIFACTS = ("task", "subtasks")
"""Artifacts whose location is the task-file layout, which :meth:`WorkflowSpec.relocate` refuses."""

PROTECTED_PATHS = (".git", ".tmp/sessions", ".tmp/locks", ".tmp/archive")
"""Folders an output may never be, hold or sit in: rollback moves outputs to the archive."""


def _literal_parts(path: str) -> Tuple[str, ...]:
    """The path's parts up to its first wildcard, without ``.`` parts."""
    parts = []
    for part in re.split(r"[\\/]", path):
        if any(c in part for c in "*?["):
            break
        if part not in ("", "."):
            parts.append(part)
    return tuple(parts)


def output_path_problem(path: str) -> Optional[str]:
    """Why ``path`` cannot be an output (declared or registered), or ``None`` if it can.

    An output is relative, stays inside the project root, is not the root itself, and is
    neither inside nor around stageflow's own state or ``.git``.
    """
    if not path.strip():
        return "output path must not be empty"
    if path.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", path):
        return f"output path {path!r} must be relative to the project root"
    if any(part == ".." for part in re.split(r"[\\/]", path)):
        return f"output path {path!r} must stay inside the project root (no '..')"
    literal = _literal_parts(path)
    if not literal and not any(c in path for c in "*?["):
        return f"output path {path!r} is the project root itself"
    for protected in PROTECTED_PATHS:
        guarded = tuple(protected.split("/"))
        shared = min(len(literal), len(guarded))
        if literal[:shared] == guarded[:shared] and (literal or not any(c in path for c in "*?[")):
            return f"output path {path!r} overlaps {protected}/, which is never archived"
    if not literal:  # '*' would match the whole project, which rollback would move away
        return f"output path {path!r} must start with a folder or file name, not a wildcard"
    return None


@attrs.frozen
class PhaseSpec:
    """One phase of a stage: a step with an ``id`` (a string such as ``"1.1"``; phases run in
    the order of their list, never of their ids), a ``name``, a ``kind`` (one of
    :data:`PHASE_KINDS`), an ``enabled`` flag, the ``agent`` that does it and, for a
    ``command`` phase, the ``command`` (an argument list, run without a shell). A phase
    with ``approval`` waits, once done, in ``awaiting_approval`` until a person approves
    it."""

    id: str
    name: str
    kind: str = "work"
    enabled: bool = True
    description: str = ""
    agent: str = ""
    command: Tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    approval: bool = False


@attrs.frozen
class StageSpec:
    """One stage of a workflow.

    ``key`` is the stable identifier used in files and on the command line (``architecture``);
    a stage's number is its 1-based position in the workflow. ``prerequisites`` are keys of
    earlier stages that must be completed before this one starts or completes.

    ``exit_overridable`` set to ``False`` makes every exit gate of the stage impossible to
    override (gating rule 4 for contracts). ``rollback_requires_hook`` set to ``True`` refuses
    to roll back the completed stage unless a compensation hook is registered and succeeds
    (gating rule 5 for a release).

    ``entry_gates``, ``exit_gates`` and ``compensations`` name gates and hooks that the
    application defines in its :class:`~stageflow.gates.Registry`
    (:meth:`~stageflow.gates.Registry.define_gate`) or that stageflow ships (the content
    gates' names); names are resolved when an orchestrator is made, never imported.
    A stage that is not ``enabled`` is skipped by every run; ``phases`` run in their listed
    order (see :meth:`~stageflow.engine.Orchestrator.phase_start`), and the stage completes
    when its last enabled phase does. A stage with ``approval`` waits, once its gates pass,
    in ``awaiting_approval`` until a person approves it (see
    :meth:`~stageflow.engine.Orchestrator.approve`).
    """

    key: str
    name: str
    goal: str = ""
    prerequisites: Tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    outputs: Tuple[Output, ...] = attrs.field(default=(), converter=_outputs)
    criteria: Tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    primary_agent: str = ""
    supporting_agents: Tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    exit_overridable: bool = True
    rollback_requires_hook: bool = False
    enabled: bool = True
    phases: Tuple[PhaseSpec, ...] = attrs.field(default=(), converter=_phases)
    entry_gates: Tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    exit_gates: Tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    compensations: Tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    approval: bool = False


@attrs.frozen(cache_hash=True)
class WorkflowSpec:
    """An ordered list of stages under a name.

    The constructor checks the definition and raises :class:`WorkflowDefinitionError`
    listing every problem: duplicate keys, badly shaped keys, prerequisites that are not
    earlier stages, output paths that leave the project root.
    """

    name: str
    stages: Tuple[StageSpec, ...] = attrs.field(converter=_stages)
    title: str = ""
    description: str = ""
    _index: dict[str, int] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        problems = _definition_problems(self)
        if problems:
            raise WorkflowDefinitionError(problems)
        object.__setattr__(self, "_index", {s.key: i for i, s in enumerate(self.stages)})

    @property
    def keys(self) -> Tuple[str, ...]:
        """Stage keys in order."""
        return tuple(s.key for s in self.stages)

    def artifact(self, name: str) -> Optional[Output]:
        """The declared output named ``name`` (``Output.artifact``) in any stage, or ``None``."""
        for stage in self.stages:
            for output in stage.outputs:
                if output.artifact == name and output.path is not None:
                    return output
        return None

    def relocate(self, paths: Mapping[str, str]) -> WorkflowSpec:
        """A copy of this workflow with the named artifacts declared at new paths.

        ``paths`` maps artifact names to path templates relative to the project root, with
        ``{feature}`` for the feature name: ``EIGHT_STAGE.relocate({"story-map":
        "docs/{feature}/stories.json"})``. Every gate, the outputs recorded on completion and
        the archive on rollback follow the new paths. Raises :class:`UsageError` for a name
        the workflow does not declare or for a fixed artifact (``task``, ``subtasks``: task
        files always live in the task-file layout of :mod:`stageflow.validation`), and
        :class:`WorkflowDefinitionError` for a path that is not allowed.
        """
        known = sorted({o.artifact for s in self.stages for o in s.outputs if o.artifact})
        for name in paths:
            if name in FIXED_ARTIFACTS:
                raise UsageError(
                    f"artifact {name!r} cannot be relocated: task files live in "
                    ".tmp/tasks/{feature}/ (or its active/ and completed/ layouts)"
                )
            if name not in known:
                raise UsageError(
                    f"workflow {self.name!r} declares no artifact {name!r}; "
                    f"known: {', '.join(known) or 'none'}"
                )
        stages = tuple(
            attrs.evolve(
                stage,
                outputs=tuple(
                    attrs.evolve(o, path=paths[o.artifact])
                    if o.artifact is not None and o.artifact in paths
                    else o
                    for o in stage.outputs
                ),
            )
            for stage in self.stages
        )
        return attrs.evolve(self, stages=stages)

    def index(self, key: str) -> int:
        """0-based position of the stage ``key``."""
        try:
            return self._index[key]
        except KeyError:
            raise self._unknown(key) from None

    def number(self, key: str) -> int:
        """1-based stage number of the stage ``key``."""
        return self.index(key) + 1

    def stage(self, ref: Union[str, int]) -> StageSpec:
        """The stage named by a key (``"stories"``), a number (``2``) or a number string (``"2"``).

        Raises :class:`UnknownStage` for anything else, including ``"2abc"``.
        """
        return self.stages[self.resolve(ref)]

    def resolve(self, ref: Union[str, int]) -> int:
        """0-based index of the stage named by a key, a number or a number string."""
        if isinstance(ref, bool) or not isinstance(ref, (int, str)):
            raise self._unknown(repr(ref))
        if isinstance(ref, int):
            if 1 <= ref <= len(self.stages):
                return ref - 1
            raise self._unknown(str(ref))
        text = ref.strip(" ")  # a newline or tab is not tolerated
        if text.isdigit() and text.isascii():
            return self.resolve(int(text))
        return self.index(text)

    def _unknown(self, ref: str) -> UnknownStage:
        choices = ", ".join(f"{i + 1} ({s.key})" for i, s in enumerate(self.stages))
        return UnknownStage(
            f"unknown stage {ref!r} in workflow {self.name!r}; stages are: {choices}",
            stage=ref,
            workflow=self.name,
        )


def _definition_problems(spec: WorkflowSpec) -> list[str]:
    problems: list[str] = []
    if not WORKFLOW_NAME_PATTERN.match(spec.name or ""):
        problems.append(f"workflow name {spec.name!r} {_NAME_RULE}")
    if not spec.stages:
        problems.append("a workflow needs at least one stage")
    seen: dict[str, int] = {}
    artifacts: dict[str, str] = {}
    phase_ids: Dict[str, str] = {}
    disabled: Set[str] = set()
    for position, stage in enumerate(spec.stages, start=1):
        if not isinstance(stage, StageSpec):
            message = f"stage {position} is not a StageSpec"  # type: ignore[unreachable]
            problems.append(message)
            continue
        if not KEY_PATTERN.match(stage.key):
            problems.append(f"stage {position}: key {stage.key!r} {_NAME_RULE}")
        if stage.key in seen:
            problems.append(
                f"stage {position}: duplicate key {stage.key!r} (also stage {seen[stage.key]})"
            )
        for prerequisite in stage.prerequisites:
            if prerequisite == stage.key:
                problems.append(f"stage {stage.key!r} lists itself as a prerequisite")
            elif prerequisite not in seen:
                problems.append(
                    f"stage {stage.key!r}: prerequisite {prerequisite!r} is not an earlier stage"
                )
        for output in stage.outputs:
            if output.path is not None:
                problem = output_path_problem(output.path)
                if problem:
                    problems.append(f"stage {stage.key!r}: {problem}")
            name = output.artifact
            if name is None:
                continue
            if not isinstance(name, str) or not KEY_PATTERN.match(name):
                problems.append(f"stage {stage.key!r}: artifact name {name!r} {_NAME_RULE}")
            elif output.path is None:
                problems.append(f"stage {stage.key!r}: artifact {name!r} has no path")
            elif name in artifacts:
                problems.append(
                    f"stage {stage.key!r}: artifact {name!r} is also declared by stage "
                    f"{artifacts[name]!r}"
                )
            else:
                artifacts[name] = stage.key
        problems.extend(_phase_problems(stage, phase_ids))
        for field in ("entry_gates", "exit_gates", "compensations"):
            names = getattr(stage, field)
            for name in names:
                if not isinstance(name, str) or not KEY_PATTERN.match(name):
                    problems.append(f"stage {stage.key!r}: {field} name {name!r} {_NAME_RULE}")
            if len(set(names)) != len(names):
                problems.append(f"stage {stage.key!r}: {field} names a gate or hook twice")
        for prerequisite in stage.prerequisites:
            if prerequisite in disabled and stage.enabled:
                problems.append(
                    f"stage {stage.key!r} is unreachable: its prerequisite {prerequisite!r} "
                    "is disabled"
                )
        if not stage.enabled:
            disabled.add(stage.key)
        seen.setdefault(stage.key, position)
    if spec.stages and len(disabled) == len(spec.stages):
        problems.append("every stage is disabled: a run would have nothing to do")
    return problems


def _phase_problems(stage: StageSpec, seen: Dict[str, str]) -> List[str]:
    """The problems of ``stage``'s phases; ``seen`` maps phase ids to their stage keys."""
    problems: List[str] = []
    for number, phase in enumerate(stage.phases, start=1):
        where = f"stage {stage.key!r} phase {number}"
        if not isinstance(phase, PhaseSpec):
            problems.append(f"{where} is not a PhaseSpec")  # type: ignore[unreachable]
            continue
        if not isinstance(phase.id, str) or not PHASE_ID_PATTERN.match(phase.id):
            problems.append(
                f"{where}: id {phase.id!r} must be letters, digits, '.', '-' or '_', "
                "starting with a letter or digit"
            )
        elif phase.id in seen:
            problems.append(
                f"{where}: duplicate phase id {phase.id!r} (also in stage {seen[phase.id]!r})"
            )
        else:
            seen[phase.id] = stage.key
        if not isinstance(phase.name, str) or not phase.name.strip():
            problems.append(f"{where}: a phase needs a name")
        if phase.kind not in PHASE_KINDS:
            problems.append(f"{where}: kind {phase.kind!r} is not one of {', '.join(PHASE_KINDS)}")
        elif phase.kind == "command" and not phase.command:
            problems.append(f"{where}: a command phase needs a command")
        elif phase.kind != "command" and phase.command:
            problems.append(f"{where}: only a command phase has a command")
        if phase.kind == "inline" and phase.approval:
            problems.append(f"{where}: an inline phase cannot need approval (no one does it)")
    if stage.phases and not any(p.enabled for p in stage.phases if isinstance(p, PhaseSpec)):
        problems.append(f"stage {stage.key!r}: every phase is disabled")
    return problems


def check_feature_name(feature: str) -> str:
    """Return ``feature`` if it is a valid feature name, else raise :class:`InvalidName`."""
    from ._names import check_feature

    return check_feature(feature)


def spec_from_document(document: Mapping[str, Any]) -> WorkflowSpec:
    """The :class:`WorkflowSpec` of a workflow document that passed
    ``schemas/workflow.schema.json`` (see :func:`stageflow.workflow_doc.load_workflow`,
    which checks it first); raises :class:`WorkflowDefinitionError` for what the schema
    cannot see (duplicate keys and ids, unreachable stages, ...)."""
    stages = []
    for stage in document["stages"]:
        gates = stage.get("gates", {})
        stages.append(
            StageSpec(
                key=stage["key"],
                name=stage["name"],
                goal=stage.get("goal", ""),
                prerequisites=stage.get("prerequisites", ()),
                outputs=tuple(
                    Output(o["description"], o.get("path"), o.get("artifact"))
                    for o in stage.get("outputs", ())
                ),
                criteria=stage.get("criteria", ()),
                primary_agent=stage.get("primary_agent", ""),
                supporting_agents=stage.get("supporting_agents", ()),
                exit_overridable=stage.get("exit_overridable", True),
                rollback_requires_hook=stage.get("rollback_requires_hook", False),
                enabled=stage.get("enabled", True),
                phases=tuple(
                    PhaseSpec(
                        id=p["id"],
                        name=p["name"],
                        kind=p.get("kind", "work"),
                        enabled=p.get("enabled", True),
                        description=p.get("description", ""),
                        agent=p.get("agent", ""),
                        command=p.get("command", ()),
                        approval=p.get("approval", False),
                    )
                    for p in stage.get("phases", ())
                ),
                entry_gates=gates.get("entry", ()),
                exit_gates=gates.get("exit", ()),
                compensations=stage.get("compensations", ()),
                approval=stage.get("approval", False),
            )
        )
    return WorkflowSpec(
        name=document["name"],
        stages=stages,
        title=document.get("title", ""),
        description=document.get("description", ""),
    )


def spec_to_document(spec: WorkflowSpec) -> Dict[str, Any]:
    """The workflow document of ``spec``: what :func:`spec_from_document` reads back to an
    equal spec. Fields at their default values are left out."""
    document: Dict[str, Any] = {"name": spec.name}
    if spec.title:
        document["title"] = spec.title
    if spec.description:
        document["description"] = spec.description
    document["stages"] = [_stage_document(stage) for stage in spec.stages]
    return document


def _stage_document(stage: StageSpec) -> Dict[str, Any]:
    out: Dict[str, Any] = {"key": stage.key, "name": stage.name}
    if stage.goal:
        out["goal"] = stage.goal
    if not stage.enabled:
        out["enabled"] = False
    if stage.prerequisites:
        out["prerequisites"] = list(stage.prerequisites)
    if stage.outputs:
        out["outputs"] = [
            {
                "description": o.description,
                **({"path": o.path} if o.path is not None else {}),
                **({"artifact": o.artifact} if o.artifact is not None else {}),
            }
            for o in stage.outputs
        ]
    if stage.criteria:
        out["criteria"] = list(stage.criteria)
    if stage.primary_agent:
        out["primary_agent"] = stage.primary_agent
    if stage.supporting_agents:
        out["supporting_agents"] = list(stage.supporting_agents)
    if not stage.exit_overridable:
        out["exit_overridable"] = False
    if stage.rollback_requires_hook:
        out["rollback_requires_hook"] = True
    if stage.approval:
        out["approval"] = True
    gates = {"entry": list(stage.entry_gates), "exit": list(stage.exit_gates)}
    gates = {kind: names for kind, names in gates.items() if names}
    if gates:
        out["gates"] = gates
    if stage.compensations:
        out["compensations"] = list(stage.compensations)
    if stage.phases:
        out["phases"] = [_phase_document(phase) for phase in stage.phases]
    return out


def _phase_document(phase: PhaseSpec) -> Dict[str, Any]:
    out: Dict[str, Any] = {"id": phase.id, "name": phase.name, "kind": phase.kind}
    if not phase.enabled:
        out["enabled"] = False
    if phase.description:
        out["description"] = phase.description
    if phase.agent:
        out["agent"] = phase.agent
    if phase.command:
        out["command"] = list(phase.command)
    if phase.approval:
        out["approval"] = True
    return out


def _builtin(name: str) -> WorkflowSpec:
    """A built-in workflow, from its document in ``stageflow/workflows/`` (checked against
    the workflow schema by the test suite, not at import)."""
    import json

    from ._resources import read_workflow_text

    return spec_from_document(json.loads(read_workflow_text(name)))


#: The names of the built-in workflows, each a document in ``stageflow/workflows/``.
BUILTIN_NAMES: Tuple[str, ...] = ("eight-stage", "plan-implement-test-final")

EIGHT_STAGE = _builtin("eight-stage")
"""The built-in 8-stage workflow of the seed documents, with its default output locations
(``stageflow/workflows/eight-stage.json``)."""


PLAN_IMPLEMENT_TEST_FINAL = _builtin("plan-implement-test-final")
"""The built-in four-stage workflow of the subagents seeds: PLAN, IMPLEMENT, TEST and FINAL,
each a sequence of phases (``stageflow/workflows/plan-implement-test-final.json``). FINAL
needs IMPLEMENT only, so a run can skip TEST (``init(..., skip=("test",))``)."""


def builtin_workflows() -> dict[str, WorkflowSpec]:
    """The workflows stageflow ships, by name (the 8-stage workflow first: the default)."""
    return {
        EIGHT_STAGE.name: EIGHT_STAGE,
        PLAN_IMPLEMENT_TEST_FINAL.name: PLAN_IMPLEMENT_TEST_FINAL,
    }

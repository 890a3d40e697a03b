"""Workflow definitions: frozen values describing ordered stages.

A :class:`WorkflowSpec` is plain data. The engine works for any ordered list of stages;
:data:`EIGHT_STAGE` is the built-in 8-stage delivery workflow of the seed documents.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping, Optional, Tuple, Union

import attrs

from .errors import UnknownStage, UsageError, WorkflowDefinitionError

__all__ = ["EIGHT_STAGE", "Output", "StageSpec", "WorkflowSpec", "builtin_workflows"]

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*\Z")  # \Z: "$" would accept a final newline
WORKFLOW_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*\Z")
_NAME_RULE = "must be lowercase letters, digits, '-' or '_', starting with a letter"


def _tuple_of_str(value: object) -> Tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)  # type: ignore[arg-type]


def _outputs(items: Iterable[Output]) -> Tuple[Output, ...]:
    return tuple(items)


def _stages(items: Iterable[StageSpec]) -> Tuple[StageSpec, ...]:
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
class StageSpec:
    """One stage of a workflow.

    ``key`` is the stable identifier used in files and on the command line (``architecture``);
    a stage's number is its 1-based position in the workflow. ``prerequisites`` are keys of
    earlier stages that must be completed before this one starts or completes.

    ``exit_overridable`` set to ``False`` makes every exit gate of the stage impossible to
    override (gating rule 4 for contracts). ``rollback_requires_hook`` set to ``True`` refuses
    to roll back the completed stage unless a compensation hook is registered and succeeds
    (gating rule 5 for a release).
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
        seen.setdefault(stage.key, position)
    return problems


def check_feature_name(feature: str) -> str:
    """Return ``feature`` if it is a valid feature name, else raise :class:`InvalidName`."""
    from ._names import check_feature

    return check_feature(feature)


def _linear(*stages: StageSpec) -> Tuple[StageSpec, ...]:
    """Give every stage after the first the previous stage as its prerequisite."""
    chained = [stages[0]]
    for previous, stage in zip(stages, stages[1:]):
        chained.append(attrs.evolve(stage, prerequisites=(previous.key,)))
    return tuple(chained)


EIGHT_STAGE = WorkflowSpec(
    name="eight-stage",
    title="Multi-Stage Orchestration Workflow",
    description="The 8-stage feature-delivery workflow: architecture to release.",
    stages=_linear(
        StageSpec(
            key="architecture",
            name="Architecture Decomposition",
            goal="Break down the system into logical components and define boundaries",
            outputs=(
                Output(
                    "Bounded contexts: components, responsibilities, boundaries and "
                    "integration points",
                    ".tmp/tasks/{feature}/contexts.json",
                    "contexts",
                ),
                Output("Architecture overview document"),
            ),
            criteria=(
                "All major components identified",
                "Component boundaries clearly defined",
                "Integration points documented",
                "Technical approach validated",
            ),
            primary_agent="OpenCoder",
            supporting_agents=("ContextScout",),
        ),
        StageSpec(
            key="stories",
            name="Story Mapping",
            goal="Map user journeys and translate them into user stories",
            outputs=(
                Output(
                    "Story map: personas, journeys and stories with acceptance criteria",
                    ".tmp/planning/{feature}/map.json",
                    "story-map",
                ),
            ),
            criteria=(
                "All user journeys documented",
                "Stories written with acceptance criteria",
                "Stories organized by priority",
                "Dependencies identified",
            ),
            primary_agent="OpenCoder",
            supporting_agents=("ContextScout",),
        ),
        StageSpec(
            key="prioritization",
            name="Prioritization",
            goal="Sequence work based on value, risk, and dependencies",
            outputs=(
                Output(
                    "Prioritized story backlog (RICE / WSJF scores, phases)",
                    ".tmp/planning/{feature}/prioritized.json",
                    "backlog",
                ),
                Output("Risk assessment matrix"),
                Output("Phased execution plan"),
            ),
            criteria=(
                "All stories prioritized",
                "Dependencies mapped",
                "Execution phases defined",
                "Critical path identified",
            ),
            primary_agent="OpenCoder",
        ),
        StageSpec(
            key="tasks",
            name="Enhanced Task Breakdown",
            goal="Transform stories into atomic, executable tasks",
            outputs=(
                Output("Feature task file", ".tmp/tasks/{feature}/task.json", "task"),
                Output("Subtask files", ".tmp/tasks/{feature}/subtask_*.json", "subtasks"),
            ),
            criteria=(
                "All tasks defined with clear objectives",
                "Dependencies mapped correctly",
                "Parallel batches identified",
                "Task JSON validated",
            ),
            primary_agent="TaskManager",
            supporting_agents=("ContextScout", "ExternalScout"),
        ),
        StageSpec(
            key="contracts",
            name="Contract Definition",
            goal="Define interfaces and integration contracts before implementation",
            outputs=(
                Output(
                    "Contracts for every integration point",
                    ".tmp/contracts/{feature}/**/contract.json",
                    "contracts",
                ),
                Output("Type definitions and integration documentation"),
            ),
            criteria=(
                "All integration points have contracts",
                "Contracts validated against architecture",
                "Type definitions complete",
                "Documentation written",
            ),
            primary_agent="OpenCoder",
            supporting_agents=("CoderAgent",),
            exit_overridable=False,
        ),
        StageSpec(
            key="execution",
            name="Parallel Execution",
            goal="Execute independent tasks simultaneously",
            outputs=(
                Output(
                    "Batch completion summary",
                    ".tmp/execution/{feature}/summary.md",
                    "execution-summary",
                ),
                Output("Implemented deliverables for all tasks"),
                Output("Self-review reports"),
            ),
            criteria=(
                "All tasks completed successfully",
                "Deliverables verified",
                "Acceptance criteria met",
                "No blocking failures",
            ),
            primary_agent="BatchExecutor",
            supporting_agents=("CoderAgent", "ContextScout", "ExternalScout"),
        ),
        StageSpec(
            key="integration",
            name="Integration & Validation",
            goal="Integrate components and validate the system works as a whole",
            outputs=(
                Output(
                    "Validation report", ".tmp/validation/{feature}-report.md", "validation-report"
                ),
                Output("Integration test results"),
                Output("Issue resolution log"),
            ),
            criteria=(
                "All components integrated",
                "Integration tests passing",
                "Acceptance criteria met",
                "System validated end-to-end",
            ),
            primary_agent="OpenCoder",
            supporting_agents=("CoderAgent", "TestEngineer"),
        ),
        StageSpec(
            key="release",
            name="Release & Learning",
            goal="Deploy to production and capture insights",
            outputs=(
                Output(
                    "Release notes", ".tmp/releases/{feature}/release-notes.md", "release-notes"
                ),
                Output(
                    "Lessons learned document",
                    "docs/retrospectives/{feature}.md",
                    "lessons-learned",
                ),
                Output("Deployed feature"),
                Output("Updated standards and patterns"),
            ),
            criteria=(
                "Feature deployed successfully",
                "Production validated",
                "Insights documented",
                "Team aligned on learnings",
            ),
            primary_agent="OpenCoder",
            rollback_requires_hook=True,
        ),
    ),
)
"""The built-in 8-stage workflow of the seed documents, with its default output locations."""


def builtin_workflows() -> dict[str, WorkflowSpec]:
    """The workflows stageflow ships, by name."""
    return {EIGHT_STAGE.name: EIGHT_STAGE}

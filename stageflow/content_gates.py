"""The default exit gates of the 8-stage workflow: checks of what each stage produced.

Each gate is a plain function ``StageContext -> list[Finding]``. It finds its files through
the artifacts the workflow declares (``Output(..., artifact=name)``; see
:meth:`~stageflow.workflow.WorkflowSpec.relocate`), and it never raises: a missing,
unreadable or malformed file is a finding that names the file.

:func:`default_gates` says which built-in gates apply to a stage: the content gate of its
key when the stage is one of the eight and the workflow declares every artifact that gate
reads, and the generic ``outputs-exist`` gate for the stage's other declared outputs (or
for every declared output, in any other stage). The codes are listed in
:data:`CONTENT_GATE_CODES` and in ``docs/gates.md``.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

import attrs

from . import validation
from ._artifacts import (
    ARTIFACT_CODES,
    deliverable,
    finding,
    load_feature,
    looks_like_path,
    no_subtasks,
    read_json,
    read_text,
    relative,
    resolved,
    unusable_subtask,
)
from ._content_checks import (
    check_backlog,
    check_contexts,
    check_contracts,
    check_report,
    check_story_map,
)
from .findings import Finding
from .gates import EXIT, GateRegistration, StageContext, match_output, outputs_exist
from .workflow import Output, WorkflowSpec

__all__ = [
    "CONTENT_GATE_CODES",
    "CONTENT_GATES",
    "ContentGate",
    "backlog_valid",
    "contexts_valid",
    "contracts_cover_integration_points",
    "default_gates",
    "execution_complete",
    "looks_like_path",
    "release_documented",
    "story_map_valid",
    "task_files_valid",
    "validation_passed",
]


GateFunction = Callable[[StageContext], List[Finding]]


def _reads(*names: str) -> Callable[[GateFunction], GateFunction]:
    """Make a gate report ``artifact-undeclared`` (and check nothing else) when the
    context's workflow does not declare one of the artifacts ``names``."""

    def decorate(gate: GateFunction) -> GateFunction:
        @functools.wraps(gate)
        def checked(context: StageContext) -> List[Finding]:
            missing = [n for n in names if context.workflow.artifact(n) is None]
            if missing:
                return [
                    finding(
                        "artifact-undeclared",
                        f"workflow {context.workflow.name!r} declares no artifact {name!r}, "
                        f"which gate {gate.__name__.replace('_', '-')!r} reads",
                        None,
                        None,
                        f"declare it: Output(description, path, artifact={name!r})",
                    )
                    for name in missing
                ]
            return gate(context)

        return checked

    return decorate


@_reads("contexts")
def contexts_valid(context: StageContext) -> List[Finding]:
    """Architecture: ``contexts.json`` is valid, with unique names and known relationships."""
    found: List[Finding] = []
    path = resolved(context, "contexts")
    document = read_json(context, path, "contexts", found)
    if document is not None:
        found.extend(check_contexts(document, path))
    return found


@_reads("story-map")
def story_map_valid(context: StageContext) -> List[Finding]:
    """Story Mapping: the map is valid, every story has acceptance criteria, and story
    dependencies exist and are acyclic."""
    found: List[Finding] = []
    path = resolved(context, "story-map")
    document = read_json(context, path, "story-map", found)
    if document is not None:
        found.extend(check_story_map(document, path))
    return found


@_reads("story-map", "backlog")
def backlog_valid(context: StageContext) -> List[Finding]:
    """Prioritization: the backlog is valid, prioritizes every story of the map, and its
    RICE and WSJF scores match their inputs."""
    found: List[Finding] = []
    map_path = resolved(context, "story-map")
    path = resolved(context, "backlog")
    story_map = read_json(context, map_path, "story-map", found)
    document = read_json(context, path, "prioritized", found)
    if document is not None:
        found.extend(check_backlog(document, path, story_map, map_path))
    return found


@_reads("task", "subtasks")
def task_files_valid(context: StageContext) -> List[Finding]:
    """Task Breakdown: the feature's task files validate with no error finding.

    Every finding of :func:`stageflow.validation.validate_store` (the run's task store) is
    passed through.
    """
    found: List[Finding] = []
    stored = load_feature(context, found)
    if stored is None:
        return found
    for findings in validation.validate_store(context.task_store, context.feature).values():
        found.extend(findings)
    if not stored.subtasks:
        found.append(no_subtasks(stored.folder))
    return found


@_reads("contexts", "contracts")
def contracts_cover_integration_points(context: StageContext) -> List[Finding]:
    """Contract Definition: a valid contract for every integration point of the architecture.

    An integration point is one entry of ``context_relationships`` in ``contexts.json``. A
    contract covers it when its ``bounded_context`` is the relationship's ``upstream`` and
    one of its ``consumers`` is named as the relationship's ``downstream``.
    """
    found: List[Finding] = []
    contexts_path = resolved(context, "contexts")
    contexts = read_json(context, contexts_path, "contexts", found)
    pattern = resolved(context, "contracts")
    contracts: List[Tuple[str, Optional[Dict[str, Any]]]] = []
    for match in match_output(context.root, pattern):
        if match.is_file():
            rel = relative(context, match)
            contracts.append((rel, read_json(context, rel, "contract", found)))
    found.extend(check_contracts(contexts, contexts_path, contracts, pattern))
    return found


@_reads("task", "subtasks", "execution-summary")
def execution_complete(context: StageContext) -> List[Finding]:
    """Parallel Execution: the batch summary exists, every subtask is completed, and every
    deliverable that is a relative file path exists inside the project root."""
    found: List[Finding] = []
    read_text(context, resolved(context, "execution-summary"), found)
    stored = load_feature(context, found)
    if stored is None:
        return found
    if not stored.subtasks:
        found.append(no_subtasks(stored.folder))
    for file in stored.subtasks:
        subtask = file.document
        if subtask is None:
            found.append(unusable_subtask(file))
            continue
        status = subtask.get("status")
        if status != "completed":
            found.append(
                finding(
                    "subtask-incomplete",
                    f"subtask {file.seq} is {status!r}, not completed",
                    file.location,
                    "/status",
                    "finish the subtask (stageflow task complete) or replan it",
                )
            )
        deliverables = subtask.get("deliverables")
        if isinstance(deliverables, list):
            for number, entry in enumerate(deliverables):
                found.extend(
                    deliverable(context.root, entry, file.location, f"/deliverables/{number}")
                )
    return found


@_reads("validation-report")
def validation_passed(context: StageContext) -> List[Finding]:
    """Integration & Validation: a validation report whose status is ``passed``.

    A report ending in ``.json`` is an object with ``"status": "passed"``; any other report
    is text with a ``Status: passed`` line (``**Status:** passed`` in Markdown too).
    """
    found: List[Finding] = []
    path = resolved(context, "validation-report")
    text = read_text(context, path, found)
    if text is not None:
        found.extend(check_report(text, path))
    return found


@_reads("release-notes", "lessons-learned")
def release_documented(context: StageContext) -> List[Finding]:
    """Release & Learning: the release notes and the lessons learned exist and are not blank."""
    found: List[Finding] = []
    for name in ("release-notes", "lessons-learned"):
        read_text(context, resolved(context, name), found)
    return found


class ContentGate(NamedTuple):
    """A stage's content gate: its name, function, the artifacts it reads, overridability."""

    name: str
    gate: GateFunction
    reads: Tuple[str, ...]
    overridable: bool = True


CONTENT_GATES: Dict[str, ContentGate] = {
    "architecture": ContentGate("contexts-valid", contexts_valid, ("contexts",)),
    "stories": ContentGate("story-map-valid", story_map_valid, ("story-map",)),
    "prioritization": ContentGate("backlog-valid", backlog_valid, ("story-map", "backlog")),
    "tasks": ContentGate("task-files-valid", task_files_valid, ("task", "subtasks")),
    "contracts": ContentGate(
        "contracts-cover-integration-points",
        contracts_cover_integration_points,
        ("contexts", "contracts"),
        overridable=False,
    ),
    "execution": ContentGate(
        "execution-complete", execution_complete, ("task", "subtasks", "execution-summary")
    ),
    "integration": ContentGate("validation-passed", validation_passed, ("validation-report",)),
    "release": ContentGate(
        "release-documented", release_documented, ("release-notes", "lessons-learned")
    ),
}
"""The content gate of each stage key of the 8-stage workflow."""

CONTENT_GATE_CODES: Tuple[str, ...] = (
    *ARTIFACT_CODES,
    "artifact-undeclared",
    "context-duplicate",
    "relationship-unknown-context",
    "relationship-self",
    "story-duplicate",
    "story-acceptance-missing",
    "story-dependency-missing",
    "story-dependency-self",
    "story-dependency-cycle",
    "backlog-story-missing",
    "backlog-story-unknown",
    "backlog-story-duplicate",
    "backlog-unscored",
    "backlog-count",
    "tasks-missing",
    "subtasks-missing",
    "contract-missing",
    "contract-duplicate",
    "contract-id-folder",
    "contract-unmatched",
    "subtask-incomplete",
    "deliverable-missing",
    "deliverable-outside",
    "deliverable-unchecked",
    "report-status-missing",
    "report-not-passed",
)
"""The codes the content gates produce themselves; the task-file gate also passes through
the codes of :mod:`stageflow.validation` and the prioritization gate the ``rice-*`` and
``wsjf-*`` codes of :mod:`stageflow.scoring`."""


def _declares(spec: WorkflowSpec, names: Tuple[str, ...]) -> bool:
    return all(spec.artifact(name) is not None for name in names)


def default_gates(spec: WorkflowSpec, key: str) -> Tuple[GateRegistration, ...]:
    """The built-in exit gates of stage ``key``: its content gate, then ``outputs-exist``.

    The content gate applies when ``key`` is one of the eight stage keys and ``spec``
    declares every artifact it reads. ``outputs-exist`` then checks the stage's declared
    outputs that the content gate does not read; without a content gate it checks them all.
    """
    stage = spec.stage(key)
    content = CONTENT_GATES.get(stage.key)
    gates: List[GateRegistration] = []
    others = stage.outputs
    if content is not None and _declares(spec, content.reads):
        gates.append(
            GateRegistration(stage.key, content.name, content.gate, EXIT, content.overridable)
        )
        others = tuple(o for o in stage.outputs if o.artifact not in content.reads)
    if any(o.path for o in others):
        gate = outputs_exist if others == stage.outputs else _outputs_exist_of(others)
        gates.append(GateRegistration(stage.key, "outputs-exist", gate, EXIT, True))
    return tuple(gates)


def _outputs_exist_of(outputs: Tuple[Output, ...]) -> Callable[[StageContext], List[Finding]]:
    """``outputs_exist`` restricted to ``outputs`` of the stage."""

    def outputs_exist_others(context: StageContext) -> List[Finding]:
        narrowed = attrs.evolve(context.stage, outputs=outputs)
        return outputs_exist(attrs.evolve(context, stage=narrowed))

    return outputs_exist_others

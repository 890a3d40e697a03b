"""Workflow documents: JSON files that define workflows, checked when they load.

A workflow document follows ``schemas/workflow.schema.json``: a ``name``, and ordered
``stages``, each with ordered ``phases``. :func:`load_workflow` checks a document and
returns its :class:`~stageflow.workflow.WorkflowSpec`, or raises
:class:`~stageflow.errors.WorkflowDefinitionError` listing every problem at once:

- what the schema refuses (unknown fields, wrong types, a phase ``kind`` that does not
  exist, ...), each with its JSON pointer;
- when the schema passes, what it cannot see: duplicate stage keys and phase ids,
  prerequisites that are not earlier stages, stages made unreachable by a disabled
  prerequisite, output paths that leave the project, and every gate or hook name that
  neither the given :class:`~stageflow.gates.Registry` defines
  (:meth:`~stageflow.gates.Registry.define_gate`, :meth:`~stageflow.gates.Registry.define_hook`)
  nor stageflow ships (the content gates, :data:`BUILTIN_GATE_NAMES`).

Names are only ever looked up in that registry: a document cannot make stageflow import
or evaluate anything. :func:`workflow_document` writes a spec back as a document (what
``stageflow workflow show`` prints); :func:`read_workflow` loads a file.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple, Union

from .errors import StateFileError, WorkflowDefinitionError
from .gates import Registry
from .workflow import WorkflowSpec, spec_from_document, spec_to_document

__all__ = [
    "BUILTIN_GATE_NAMES",
    "load_workflow",
    "read_workflow",
    "unknown_names",
    "workflow_document",
]

#: The gates stageflow ships that a document may name: the content gates of the 8 stages.
BUILTIN_GATE_NAMES: Tuple[str, ...] = (
    "backlog-valid",
    "contexts-valid",
    "contracts-cover-integration-points",
    "execution-complete",
    "release-documented",
    "story-map-valid",
    "task-files-valid",
    "validation-passed",
)

SCHEMA_URL = "https://stageflow.dev/schemas/workflow.schema.json"


def load_workflow(
    document: Any, *, registry: Optional[Registry] = None, source: str = "workflow"
) -> WorkflowSpec:
    """The workflow of ``document``, checked (see the module docstring). ``source`` names
    the document in the problems (a file name, say)."""
    from .schema import schema_errors

    problems = [
        f"{source}: {pointer or '/'}: {message}"
        for pointer, message in schema_errors("workflow", document)
    ]
    if problems:
        raise WorkflowDefinitionError(problems)
    try:
        spec = spec_from_document(document)
    except WorkflowDefinitionError as exc:
        problems = [f"{source}: {problem}" for problem in exc.problems]
        spec = None
    if spec is not None:
        problems = [f"{source}: {problem}" for problem in unknown_names(spec, registry)]
    elif isinstance(document, dict):
        problems += [f"{source}: {problem}" for problem in _unknown_in_document(document, registry)]
    if problems:
        raise WorkflowDefinitionError(problems)
    assert spec is not None
    return spec


def unknown_names(spec: WorkflowSpec, registry: Optional[Registry] = None) -> List[str]:
    """Every gate and hook name of ``spec`` that ``registry`` does not define and
    stageflow does not ship, as problems."""
    problems = []
    for stage in spec.stages:
        problems += _unknown(
            stage.key, stage.entry_gates, stage.exit_gates, stage.compensations, registry
        )
    return problems


def _unknown(
    key: str,
    entry: Any,
    exit_: Any,
    hooks: Any,
    registry: Optional[Registry],
) -> List[str]:
    gates = set(BUILTIN_GATE_NAMES) | set(registry.gate_names if registry else ())
    known_hooks = set(registry.hook_names if registry else ())
    problems = []
    for kind, names in (("entry", entry), ("exit", exit_)):
        for name in names:
            if name not in gates:
                problems.append(
                    f"stage {key!r}: unknown {kind} gate {name!r} "
                    f"(known: {', '.join(sorted(gates)) or 'none'})"
                )
    for name in hooks:
        if name not in known_hooks:
            problems.append(
                f"stage {key!r}: unknown compensation hook {name!r} "
                f"(known: {', '.join(sorted(known_hooks)) or 'none'})"
            )
    return problems


def _unknown_in_document(document: Dict[str, Any], registry: Optional[Registry]) -> List[str]:
    """:func:`unknown_names` of a document that passed the schema but not the definition
    checks, so that a load reports every problem at once."""
    problems = []
    for stage in document["stages"]:
        gates = stage.get("gates", {})
        problems += _unknown(
            stage["key"],
            gates.get("entry", ()),
            gates.get("exit", ()),
            stage.get("compensations", ()),
            registry,
        )
    return problems


def workflow_document(spec: WorkflowSpec) -> Dict[str, Any]:
    """``spec`` as a workflow document (fields at their defaults left out), with
    ``$schema``; :func:`load_workflow` reads it back to an equal spec."""
    return {"$schema": SCHEMA_URL, **spec_to_document(spec)}


def read_workflow(
    path: Union[str, os.PathLike[str]], *, registry: Optional[Registry] = None
) -> WorkflowSpec:
    """Load the workflow document at ``path``: a :class:`~stageflow.errors.StateFileError`
    naming the file when it cannot be read or is not JSON, a
    :class:`~stageflow.errors.WorkflowDefinitionError` listing every problem otherwise."""
    from ._rundoc import parse_json_bytes

    location = os.fspath(path)
    try:
        with open(location, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise StateFileError(location, f"cannot be read ({exc.strerror or exc})") from None
    document = parse_json_bytes(data, location)
    return load_workflow(document, registry=registry, source=location)

"""``stageflow workflow ...``: list, show and check workflow definitions.

Workflows come from two places: the built-in ones, and the project's own documents in
``.tmp/workflows/{name}.json`` (``stageflow stage init --workflow PATH`` installs one
there). A workflow argument is a name, or a path when it names a file (or ends in
``.json``).
"""

from __future__ import annotations

import argparse
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Tuple

    from ..workflow import WorkflowSpec
    from . import Console

WORKFLOWS_DIR = os.path.join(".tmp", "workflows")


def is_path(ref: str) -> bool:
    """Whether a ``--workflow`` value names a file rather than a workflow."""
    return ref.endswith(".json") or os.sep in ref or "/" in ref or os.path.isfile(ref)


def project_workflows(root: str) -> List[WorkflowSpec]:
    """The project's workflow documents, by file name order; every problem is raised
    (:class:`~stageflow.errors.WorkflowDefinitionError`), naming the file."""
    from ..errors import WorkflowDefinitionError
    from ..workflow import builtin_workflows
    from ..workflow_doc import read_workflow

    folder = os.path.join(root, WORKFLOWS_DIR)
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
    except FileNotFoundError:
        return []
    found, problems = [], []
    for name in names:
        path = os.path.join(folder, name)
        shown = os.path.join(WORKFLOWS_DIR, name)
        try:
            spec = read_workflow(path)
        except WorkflowDefinitionError as exc:
            problems += [p.replace(path, shown, 1) for p in exc.problems]
            continue
        if f"{spec.name}.json" != name:
            problems.append(f"{shown}: holds workflow {spec.name!r}; name it {spec.name}.json")
        elif spec.name in builtin_workflows():
            problems.append(f"{shown}: {spec.name!r} is a built-in workflow's name")
        else:
            found.append(spec)
    if problems:
        raise WorkflowDefinitionError(problems)
    return found


def all_workflows(root: str) -> List[WorkflowSpec]:
    """The built-in workflows, then the project's."""
    from ..workflow import builtin_workflows

    return [*builtin_workflows().values(), *project_workflows(root)]


def install(root: str, path: str) -> str:
    """Check the workflow document at ``path`` and copy it to ``.tmp/workflows/``; return
    its name. Installing the same definition again changes nothing; a different one under
    an installed name is a :class:`~stageflow.errors.ConflictError`."""
    from .._fileio import write_atomic
    from ..errors import ConflictError, UsageError
    from ..workflow import builtin_workflows
    from ..workflow_doc import read_workflow, workflow_document
    from . import dumps

    spec = read_workflow(path)
    if spec.name in builtin_workflows():
        raise UsageError(
            f"{path}: {spec.name!r} is a built-in workflow's name; give the workflow another"
        )
    target = os.path.join(root, WORKFLOWS_DIR, f"{spec.name}.json")
    for installed in project_workflows(root):
        if installed.name == spec.name:
            if installed != spec:
                raise ConflictError(
                    f"a different workflow named {spec.name!r} is installed "
                    f"({os.path.join(WORKFLOWS_DIR, spec.name + '.json')}): rename the new "
                    "one, or remove the installed copy if no run uses it",
                    target,
                )
            return spec.name
    write_atomic(target, (dumps(workflow_document(spec)) + "\n").encode("utf-8"))
    return spec.name


def _resolve(ns: argparse.Namespace) -> Tuple[WorkflowSpec, str]:
    """The workflow an argument names, and where it comes from."""
    from ..errors import NotFound
    from ..workflow_doc import read_workflow

    ref = ns.workflow
    if is_path(ref):
        return read_workflow(ref), ref
    known_workflows = all_workflows(str(ns.root))  # the project's files, read once
    for spec in known_workflows:
        if spec.name == ref:
            return spec, _source(spec)
    known = ", ".join(s.name for s in known_workflows)
    raise NotFound(f"unknown workflow {ref!r}; known: {known}")


def _source(spec: WorkflowSpec) -> str:
    from ..workflow import builtin_workflows

    if spec.name in builtin_workflows():
        return "built-in"
    return os.path.join(WORKFLOWS_DIR, f"{spec.name}.json")


def _list(ns: argparse.Namespace, console: Console) -> int:
    root = str(ns.root)
    rows = [
        {
            "name": spec.name,
            "title": spec.title,
            "stages": len(spec.stages),
            "phases": sum(len(stage.phases) for stage in spec.stages),
            "source": _source(spec),
        }
        for spec in all_workflows(root)
    ]

    def text() -> str:
        return "\n".join(
            f"{r['name']}  {r['stages']} stages, {r['phases']} phases  ({r['source']})"
            + (f"  {r['title']}" if r["title"] else "")
            for r in rows
        )

    console.emit({"workflows": rows}, text)
    return 0


def _show(ns: argparse.Namespace, console: Console) -> int:
    from ..workflow_doc import workflow_document

    spec, source = _resolve(ns)

    def text() -> str:
        lines = [f"{spec.name}: {spec.title or spec.name} ({source})"]
        if spec.description:
            lines.append(f"  {spec.description}")
        for number, stage in enumerate(spec.stages, start=1):
            off = "" if stage.enabled else "  [disabled]"
            lines.append(f"  {number}. {stage.name} ({stage.key}){off}")
            for phase in stage.phases:
                off = "" if phase.enabled else "  [disabled]"
                lines.append(f"       {phase.id} {phase.name} [{phase.kind}]{off}")
            gates = [*stage.entry_gates, *stage.exit_gates]
            if gates:
                lines.append(f"       gates: {', '.join(gates)}")
        return "\n".join(lines)

    console.emit({"source": source, "workflow": workflow_document(spec)}, text)
    return 0


def _validate(ns: argparse.Namespace, console: Console) -> int:
    from ..errors import WorkflowDefinitionError

    try:
        spec, source = _resolve(ns)
    except WorkflowDefinitionError as exc:
        problems = list(exc.problems)
        console.emit(
            {"valid": False, "workflow": None, "problems": problems},
            lambda: "\n".join(["invalid workflow:", *(f"  {p}" for p in problems)]),
        )
        return 1
    console.emit(
        {"valid": True, "workflow": spec.name, "problems": []},
        lambda: f"valid: workflow {spec.name!r}, {len(spec.stages)} stages ({source})",
    )
    return 0


def _add_ref(p: argparse.ArgumentParser) -> None:
    p.add_argument("workflow", metavar="NAME|PATH", help="a workflow's name, or a document")


def _add_nothing(p: argparse.ArgumentParser) -> None:
    return None


if TYPE_CHECKING:
    Command = Tuple[Callable[..., int], str, Callable[[argparse.ArgumentParser], None]]
COMMANDS: Dict[str, Command] = {
    "list": (_list, "the built-in workflows and the project's", _add_nothing),
    "show": (_show, "a workflow's stages and phases (--json: its document)", _add_ref),
    "validate": (_validate, "check a workflow document; every problem (exit 1)", _add_ref),
}
"""Every ``stageflow workflow`` command: handler, help, arguments."""


def register(groups: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``stageflow workflow ...``."""
    from ._args import add_group

    add_group(groups, "workflow", "list, show and check workflow definitions", COMMANDS, common)

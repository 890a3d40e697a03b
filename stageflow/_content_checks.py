"""The pure checks behind the content gates: parsed, schema-valid documents in, findings out.

No I/O: the gates read the files (:mod:`stageflow._artifacts`) and pass the documents here.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from ._artifacts import finding
from .findings import Finding, Severity
from .graph import TaskGraph, TaskNode, find_cycles
from .scoring import check_rice, check_wsjf

__all__ = [
    "check_backlog",
    "check_contexts",
    "check_contracts",
    "check_report",
    "check_story_map",
]

Document = Mapping[str, Any]


def check_contexts(document: Document, path: str) -> List[Finding]:
    """Unique context names; relationships between two different, declared contexts."""
    found: List[Finding] = []
    names: Dict[str, int] = {}
    for number, item in enumerate(document["bounded_contexts"]):
        name = item["name"]
        if name in names:
            found.append(
                finding(
                    "context-duplicate",
                    f"bounded context {name!r} is declared twice (also #{names[name]})",
                    path,
                    f"/bounded_contexts/{number}/name",
                    "give every bounded context its own name",
                )
            )
        names.setdefault(name, number)
    for number, rel in enumerate(document.get("context_relationships", ())):
        for side in ("upstream", "downstream"):
            if rel[side] not in names:
                found.append(
                    finding(
                        "relationship-unknown-context",
                        f"relationship {number}: {side} {rel[side]!r} is not a bounded context",
                        path,
                        f"/context_relationships/{number}/{side}",
                        f"name one of: {', '.join(sorted(names))}",
                    )
                )
        if rel["upstream"] == rel["downstream"]:
            found.append(
                finding(
                    "relationship-self",
                    f"relationship {number} links {rel['upstream']!r} to itself",
                    path,
                    f"/context_relationships/{number}",
                    "a relationship joins two different contexts",
                    Severity.WARNING,
                )
            )
    return found


def check_story_map(document: Document, path: str) -> List[Finding]:
    """Unique story ids, acceptance criteria on every story, dependencies that exist and
    form no cycle (found with :func:`stageflow.graph.find_cycles`)."""
    found: List[Finding] = []
    stories = document["stories"]
    index: Dict[str, int] = {}
    for number, story in enumerate(stories):
        sid = story["id"]
        if sid in index:
            found.append(
                finding(
                    "story-duplicate",
                    f"story id {sid!r} is used twice (also /stories/{index[sid]})",
                    path,
                    f"/stories/{number}/id",
                    "give every story its own id",
                )
            )
            continue
        index[sid] = number
    nodes: List[TaskNode] = []
    for sid, number in index.items():
        story = stories[number]
        criteria = story.get("acceptance_criteria")
        if not criteria or not any(c.strip() for c in criteria):
            found.append(
                finding(
                    "story-acceptance-missing",
                    f"story {sid!r} has no acceptance criteria",
                    path,
                    f"/stories/{number}" + ("/acceptance_criteria" if criteria is not None else ""),
                    "list how to tell the story is done in acceptance_criteria",
                )
            )
        deps: List[str] = []
        for position, dep in enumerate(story.get("dependencies", ())):
            pointer = f"/stories/{number}/dependencies/{position}"
            if dep == sid:
                found.append(
                    finding(
                        "story-dependency-self",
                        f"story {sid!r} depends on itself",
                        path,
                        pointer,
                        f"remove {dep!r} from its dependencies",
                    )
                )
            elif dep not in index:
                found.append(
                    finding(
                        "story-dependency-missing",
                        f"story {sid!r} depends on {dep!r}, which is not a story of the map",
                        path,
                        pointer,
                        f"add the story {dep!r}, or remove it from the dependencies",
                    )
                )
            else:
                deps.append(dep)
        nodes.append(TaskNode(sid, "pending", deps))
    for cycle in find_cycles(TaskGraph(nodes)):
        first = cycle.members[0]
        found.append(
            finding(
                "story-dependency-cycle",
                f"stories depend on each other: {cycle}",
                path,
                f"/stories/{index[first]}/dependencies",
                "remove one dependency of the cycle so that the stories can be ordered",
            )
        )
    return found


def check_backlog(
    document: Document, path: str, story_map: Optional[Document], map_path: str
) -> List[Finding]:
    """Every story of the map prioritized once, scored, with consistent scores and counts."""
    found: List[Finding] = []
    items: List[Tuple[str, Dict[str, Any]]] = []
    for key in ("mvp_features", "post_mvp_features"):
        items.extend((f"/{key}/{n}", item) for n, item in enumerate(document.get(key, ())))
    known: Optional[Set[str]] = None
    if story_map is not None:
        known = {story["id"] for story in story_map["stories"]}
    seen: Dict[str, str] = {}
    for pointer, item in items:
        sid = item["id"]
        if sid in seen:
            found.append(
                finding(
                    "backlog-story-duplicate",
                    f"story {sid!r} is prioritized twice (also {seen[sid]})",
                    path,
                    pointer + "/id",
                    "prioritize each story once, in the MVP or after it",
                )
            )
            continue
        seen[sid] = pointer
        if known is not None and sid not in known:
            found.append(
                finding(
                    "backlog-story-unknown",
                    f"story {sid!r} is not in the story map {map_path}",
                    path,
                    pointer + "/id",
                    "remove it, or add the story to the map",
                    Severity.WARNING,
                )
            )
        if "rice_score" not in item and "wsjf_score" not in item:
            found.append(
                finding(
                    "backlog-unscored",
                    f"story {sid!r} has neither a RICE nor a WSJF score",
                    path,
                    pointer,
                    "add a rice_score or a wsjf_score block",
                )
            )
        if "rice_score" in item:
            found.extend(check_rice(item["rice_score"], pointer + "/rice_score", path=path))
        if "wsjf_score" in item:
            found.extend(check_wsjf(item["wsjf_score"], pointer + "/wsjf_score", path=path))
    if known is not None:
        for sid in sorted(known - set(seen)):
            found.append(
                finding(
                    "backlog-story-missing",
                    f"story {sid!r} of the story map is not prioritized",
                    path,
                    "",
                    f"score {sid!r} and add it to mvp_features or post_mvp_features",
                )
            )
    metadata = document.get("metadata", {})
    counts = (
        ("total_items", len(items)),
        ("mvp_count", len(document.get("mvp_features", ()))),
        ("post_mvp_count", len(document.get("post_mvp_features", ()))),
    )
    for key, actual in counts:
        if key in metadata and metadata[key] != actual:
            found.append(
                finding(
                    "backlog-count",
                    f"metadata.{key} is {metadata[key]} but the backlog holds {actual}",
                    path,
                    f"/metadata/{key}",
                    f"set {key} to {actual}",
                )
            )
    return found


def _covers(contract: Document, upstream: str, downstream: str) -> bool:
    """The matching rule: provided by ``upstream``, with a consumer named ``downstream``."""
    return contract.get("bounded_context") == upstream and any(
        party["name"] == downstream for party in contract.get("consumers", ())
    )


def check_contracts(
    contexts: Optional[Document],
    contexts_path: str,
    contracts: Sequence[Tuple[str, Optional[Dict[str, Any]]]],
    pattern: str,
) -> List[Finding]:
    """A contract for every context relationship; unique ids matching their folders.

    ``contracts`` holds ``(path, document)`` pairs, the document ``None`` when it could not
    be used (its own findings say why). Without usable contexts nothing can be matched.
    """
    found: List[Finding] = []
    valid: List[Tuple[str, Dict[str, Any]]] = []
    ids: Dict[str, str] = {}
    for path, contract in contracts:
        if contract is None:
            continue
        cid = contract["contract_id"]
        folder = path.rsplit("/", 2)[-2] if path.count("/") else ""
        if folder != cid:
            found.append(
                finding(
                    "contract-id-folder",
                    f"contract_id {cid!r} is not the name of its folder {folder!r}",
                    path,
                    "/contract_id",
                    f"move the contract to a folder named {cid!r}, or rename its contract_id",
                    Severity.WARNING,
                )
            )
        if cid in ids:
            found.append(
                finding(
                    "contract-duplicate",
                    f"contract_id {cid!r} is also the id of {ids[cid]}",
                    path,
                    "/contract_id",
                    "give every contract its own contract_id",
                )
            )
            continue
        ids[cid] = path
        valid.append((path, contract))
    if contexts is None:
        return found
    used: Set[str] = set()
    base = pattern.split("*", 1)[0].rstrip("/")

    def where(upstream: str, downstream: str) -> str:
        if "*" not in pattern:  # a relocated single contract file
            return pattern
        return f"{base}/{upstream}-{downstream}/contract.json"

    for number, rel in enumerate(contexts.get("context_relationships", ())):
        upstream, downstream = rel["upstream"], rel["downstream"]
        covering = [p for p, c in valid if _covers(c, upstream, downstream)]
        used.update(covering)
        if not covering:
            found.append(
                finding(
                    "contract-missing",
                    f"no contract covers the integration point {upstream} -> {downstream}",
                    contexts_path,
                    f"/context_relationships/{number}",
                    f"write {where(upstream, downstream)} with bounded_context "
                    f"{upstream!r} and a consumer named {downstream!r}",
                )
            )
    for path, contract in valid:
        if path not in used:
            found.append(
                finding(
                    "contract-unmatched",
                    f"contract {contract['contract_id']!r} covers no integration point of "
                    f"{contexts_path}",
                    path,
                    "/bounded_context",
                    "fine for an external consumer; otherwise set bounded_context to the "
                    "upstream context and name the downstream context among the consumers",
                    Severity.INFO,
                )
            )
    return found


_STATUS_LINE = re.compile(
    r"^[ \t]*(?:\*\*)?status(?:\*\*)?[ \t]*:[ \t]*(?:\*\*)?[ \t]*([A-Za-z_-]*)",
    re.IGNORECASE | re.MULTILINE,
)


def check_report(text: str, path: str) -> List[Finding]:
    """The report's status is ``passed``: a JSON report's ``status`` field when ``path`` ends
    in ``.json``, else the first ``Status:`` line (case-insensitive, optionally in bold)."""
    if path.lower().endswith(".json"):
        import json

        try:
            document = json.loads(text)
        except (ValueError, RecursionError) as exc:
            return [
                finding(
                    "artifact-json",
                    f"{path}: not valid JSON ({exc})",
                    path,
                    "",
                    'write the report as a JSON object with "status": "passed"',
                )
            ]
        if not isinstance(document, dict):
            return [
                finding(
                    "artifact-json",
                    f"{path}: expected a JSON object",
                    path,
                    "",
                    'write the report as a JSON object with "status": "passed"',
                )
            ]
        status = document.get("status")
        if not isinstance(status, str):
            return [
                finding(
                    "report-status-missing",
                    f"{path} has no status text",
                    path,
                    "/status",
                    'add "status": "passed" once the validation passes',
                )
            ]
        pointer: Optional[str] = "/status"
    else:
        match = _STATUS_LINE.search(text)
        if match is None:
            return [
                finding(
                    "report-status-missing",
                    f"{path} has no 'Status:' line",
                    path,
                    None,
                    "add a line 'Status: passed' once the validation passes",
                )
            ]
        status, pointer = match.group(1), None
    if status.strip().lower() != "passed":
        return [
            finding(
                "report-not-passed",
                f"{path}: the validation status is {status.strip()!r}, not 'passed'",
                path,
                pointer,
                "fix what the validation found, run it again, and update the report",
            )
        ]
    return []

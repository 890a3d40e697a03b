"""The JSON Schemas of task files and planning artifacts.

Each schema is a valid Draft 2020-12 schema that uses only standard keywords; the seed example
(``stageflow/examples/order_management``, copied from ``../shared/seeds/004_*.txt``)
validates; every required part and enum of the reference is refused when broken; unknown
top-level fields are accepted.
"""

from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, ValidationError

from stageflow.examples import ORDER_MANAGEMENT

HERE = Path(__file__).resolve().parent
SCHEMA_DIR = HERE.parent / "schemas"
SEED_DIR = ORDER_MANAGEMENT
SEED_FEATURE = SEED_DIR / "order-management-mvp"
SEED_SOURCE_DIR = HERE.parent.parent / "shared" / "seeds"

NAMES = ("task", "subtask", "contexts", "story-map", "prioritized", "contract")

# Seed fixture (relative to SEED_DIR) -> the path on its "File:" line in the seed document.
SEED_ORIGIN = {
    "contexts.json": ".tmp/tasks/order-management-system/contexts.json",
    "map.json": ".tmp/planning/order-management-system/map.json",
    "prioritized.json": ".tmp/planning/prioritized.json",
    "order-management-mvp/task.json": ".tmp/tasks/order-management-mvp/task.json",
    **{
        f"order-management-mvp/subtask_{n:02d}.json": (
            f".tmp/tasks/order-management-mvp/subtask_{n:02d}.json"
        )
        for n in range(1, 13)
    },
    "contract.json": ".tmp/contracts/order-management/order-api/contract.json",
}
SEED_SCHEMA = {
    "contexts.json": "contexts",
    "map.json": "story-map",
    "prioritized.json": "prioritized",
    "contract.json": "contract",
    "order-management-mvp/task.json": "task",
}

DELETE = object()


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def schema(name: str) -> Dict[str, Any]:
    loaded: Dict[str, Any] = load_json(SCHEMA_DIR / f"{name}.schema.json")
    return loaded


@lru_cache(maxsize=None)
def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(schema(name))


def errors(name: str, document: Any) -> List[ValidationError]:
    return list(validator(name).iter_errors(document))


def assert_valid(name: str, document: Any) -> None:
    found = [f"{e.json_path}: {e.message}" for e in errors(name, document)]
    assert not found, "\n".join(found)


def pointer(path: Iterable[Any]) -> str:
    """The JSON pointer of a path of keys and indexes (``""`` for the root)."""
    return "".join(f"/{key}" for key in path)


def edit(document: Any, changes: Dict[str, Any]) -> Any:
    """A deep copy of ``document`` with each JSON pointer set to its value (``DELETE`` removes)."""
    result = copy.deepcopy(document)
    for where, value in changes.items():
        *parents, last = where.split("/")[1:]
        parent = result
        for step in parents:
            parent = parent[int(step) if isinstance(parent, list) else step]
        key: Any = int(last) if isinstance(parent, list) else last
        if value is DELETE:
            del parent[key]
        else:
            parent[key] = value
    return result


def seed_schema_name(fixture: str) -> str:
    return SEED_SCHEMA.get(fixture, "subtask")


# -- the schema files -------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_schema_is_draft_2020_12_with_its_id(name: str) -> None:
    document = schema(name)
    Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"] == f"https://stageflow.dev/schemas/{name}.schema.json"
    assert document["type"] == "object"
    assert document["title"]
    assert document["description"]


# Keywords of Draft 2020-12 that these schemas may use (all implemented by jsonschema).
# A misspelt keyword ("requried") is silently ignored by validators, so it is caught here.
SCHEMA_MAP_KEYWORDS = {"properties", "$defs"}
SCHEMA_KEYWORDS = {"items", "additionalProperties", "if", "then", "else", "not"}
SCHEMA_LIST_KEYWORDS = {"allOf", "anyOf", "oneOf"}
DATA_KEYWORDS = {
    "$schema", "$id", "$ref", "title", "description", "type", "enum", "const", "required",
    "pattern", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "minItems",
    "format",
}  # fmt: skip


def subschemas(node: Any, where: str) -> Iterator[Tuple[str, Dict[str, Any]]]:
    """Every schema object inside ``node`` (booleans are schemas too, and are skipped)."""
    if isinstance(node, bool):
        return
    assert isinstance(node, dict), f"{where}: a schema must be an object or a boolean"
    yield where, node
    for key, value in node.items():
        if key in SCHEMA_MAP_KEYWORDS:
            for child, sub in value.items():
                yield from subschemas(sub, f"{where}/{key}/{child}")
        elif key in SCHEMA_KEYWORDS:
            yield from subschemas(value, f"{where}/{key}")
        elif key in SCHEMA_LIST_KEYWORDS:
            for index, sub in enumerate(value):
                yield from subschemas(sub, f"{where}/{key}/{index}")


@pytest.mark.parametrize("name", NAMES)
def test_schema_uses_only_known_keywords_and_local_refs(name: str) -> None:
    known = SCHEMA_MAP_KEYWORDS | SCHEMA_KEYWORDS | SCHEMA_LIST_KEYWORDS | DATA_KEYWORDS
    document = schema(name)
    for where, node in subschemas(document, "#"):
        assert set(node) <= known, f"{name} {where}: unexpected keywords {set(node) - known}"
        if "$ref" in node:
            ref = node["$ref"]
            assert ref.startswith("#/$defs/"), f"{name} {where}: non-local $ref {ref}"
            assert ref[len("#/$defs/") :] in document["$defs"], f"{name} {where}: dangling {ref}"
        if "format" in node:  # an annotation only: no format checker is ever attached
            assert node["format"] == "date-time", f"{name} {where}"


def test_task_and_subtask_share_their_common_definitions() -> None:
    task_defs, subtask_defs = schema("task")["$defs"], schema("subtask")["$defs"]
    shared = set(task_defs) & set(subtask_defs)
    assert {"fileRef", "contract", "designComponent", "adr", "slug", "timestamp"} <= shared
    for name in sorted(shared):
        assert task_defs[name] == subtask_defs[name], f"$defs/{name} differs"


def test_task_and_subtask_are_open_but_verification_checks_are_closed() -> None:
    for name in ("task", "subtask"):
        assert "additionalProperties" not in schema(name)
    defs = schema("subtask")["$defs"]
    for shape in ("commandCheck", "fileExistsCheck", "fileContainsCheck"):
        assert defs[shape]["additionalProperties"] is False


# -- every field of the reference (openagents.md §2.1, §2.2, §2.4, §2.6) ----------------------

TASK_FIELDS = {
    # §2.1 base
    "id", "name", "status", "objective", "context_files", "reference_files", "exit_criteria",
    "subtask_count", "completed_count", "created_at", "completed_at",
    # §2.4 enhanced, task level
    "bounded_context", "module", "vertical_slice", "contracts", "design_components",
    "related_adrs", "rice_score", "wsjf_score", "release_slice",
}  # fmt: skip
SUBTASK_FIELDS = {
    # §2.2 base
    "id", "seq", "title", "status", "depends_on", "parallel", "context_files", "reference_files",
    "acceptance_criteria", "deliverables", "suggested_agent", "agent_id", "started_at",
    "completed_at", "completion_summary",
    # §2.4 enhanced, subtask level
    "bounded_context", "module", "vertical_slice", "contracts", "design_components",
    "related_adrs",
    # §2.6
    "verification",
}  # fmt: skip

FULL_TASK: Dict[str, Any] = {
    "id": "auth-system",
    "name": "Authentication system",
    "status": "active",
    "objective": "Let users sign in with email and password",
    "context_files": [
        ".opencode/context/core/standards/code-quality.md",
        {"path": ".opencode/context/core/standards/security-patterns.md"},
        {"path": "docs/auth.md", "lines": "1-20,45-60", "reason": "Session rules"},
    ],
    "reference_files": ["src/api/base.controller.ts", {"path": "src/db.ts", "lines": "10"}],
    "exit_criteria": ["All subtasks completed", "Integration tests pass"],
    "subtask_count": 2,
    "completed_count": 1,
    "created_at": "2026-02-14T11:30:00Z",
    "completed_at": None,
    "bounded_context": "identity",
    "module": "@app/auth",
    "vertical_slice": "sign-in-slice",
    "contracts": [
        {
            "type": "api",
            "name": "AuthAPI",
            "path": "src/api/auth.contract.ts",
            "status": "draft",
            "description": "Sign-in and sign-out endpoints",
        },
        {"name": "SessionEvents"},
    ],
    "design_components": [
        {"type": "figma", "url": "https://figma.com/file/abc", "description": "Sign-in form"},
        {"type": "wireframe", "path": "docs/design/sign-in.png"},
    ],
    "related_adrs": [
        {
            "id": "ADR-003",
            "path": "docs/adr/003-jwt.md",
            "title": "Use JWT",
            "decision": "Stateless JWT access tokens with refresh tokens",
        }
    ],
    "rice_score": {"reach": 5000, "impact": 2, "confidence": 80, "effort": 3, "score": 2666.67},
    "wsjf_score": {
        "business_value": 8,
        "time_criticality": 6,
        "risk_reduction": 5,
        "job_size": 3,
        "score": 6.33,
    },
    "release_slice": "v1.2.0",
}

FULL_SUBTASK: Dict[str, Any] = {
    "id": "auth-system-01",
    "seq": "01",
    "title": "Implement the password hasher",
    "status": "in_progress",
    "depends_on": [],
    "parallel": True,
    "context_files": [{"path": "docs/security.md", "lines": "40-80", "reason": "Hashing rules"}],
    "reference_files": ["src/crypto/index.ts"],
    "acceptance_criteria": ["Uses argon2id", "Unit tests pass"],
    "deliverables": ["src/auth/hasher.ts", "src/auth/hasher.test.ts"],
    "suggested_agent": "CoderAgent",
    "agent_id": "coder-7",
    "started_at": "2026-02-14T12:00:00.123Z",
    "completed_at": None,
    "completion_summary": None,
    "bounded_context": "identity",
    "module": "@app/auth",
    "vertical_slice": "sign-in-slice",
    "contracts": [{"type": "interface", "name": "Hasher", "status": "implemented"}],
    "design_components": [{"type": "sketch", "path": "docs/design/hasher.md"}],
    "related_adrs": [{"id": "ADR-003"}],
    "verification": [
        {
            "type": "command",
            "command": "npm test -- hasher",
            "expect_exit": 0,
            "expect_contains": "passed",
            "timeout_ms": 60000,
        },
        {"type": "command", "command": "npm run lint"},
        {"type": "file_exists", "path": "src/auth/hasher.ts"},
        {"type": "file_contains", "path": "src/auth/hasher.ts", "expect_contains": "argon2id"},
    ],
}

MINIMAL_TASK: Dict[str, Any] = {
    "id": "auth-system",
    "name": "Authentication system",
    "status": "active",
    "objective": "Let users sign in",
    "created_at": "2026-02-14T11:30:00Z",
}
MINIMAL_SUBTASK: Dict[str, Any] = {
    "id": "auth-system-01",
    "seq": "01",
    "title": "Implement the password hasher",
    "status": "pending",
}


def test_the_schemas_name_every_field_of_the_reference() -> None:
    assert set(schema("task")["properties"]) >= TASK_FIELDS
    assert set(schema("subtask")["properties"]) >= SUBTASK_FIELDS


def test_a_task_and_a_subtask_with_every_field_validate() -> None:
    assert set(FULL_TASK) == TASK_FIELDS
    assert set(FULL_SUBTASK) == SUBTASK_FIELDS
    assert_valid("task", FULL_TASK)
    assert_valid("subtask", FULL_SUBTASK)


def test_minimal_documents_validate() -> None:
    assert_valid("task", MINIMAL_TASK)
    assert_valid("subtask", MINIMAL_SUBTASK)
    assert_valid("contexts", {"bounded_contexts": [{"name": "orders"}]})
    assert_valid("story-map", {"stories": [{"id": "s-1", "title": "Add to cart"}]})
    assert_valid("prioritized", {"mvp_features": []})
    assert_valid("prioritized", {"post_mvp_features": [{"id": "s-1"}]})
    assert_valid("contract", {"contract_id": "order-api", "version": "1.0.0"})


def test_the_base_subtask_of_the_workflow_document_validates() -> None:
    """The "Subtask JSON Structure" of seed 001, with its nulls."""
    assert_valid(
        "subtask",
        {
            "id": "feature-slug-01",
            "seq": "01",
            "title": "Task description",
            "status": "pending",
            "depends_on": [],
            "parallel": True,
            "suggested_agent": "CoderAgent",
            "context_files": ["standards for this task"],
            "reference_files": ["source files for this task"],
            "acceptance_criteria": ["criterion 1", "criterion 2"],
            "deliverables": ["file paths"],
            "agent_id": None,
            "started_at": None,
            "completed_at": None,
            "completion_summary": None,
        },
    )


# -- the seed example -------------------------------------------------------------------------


def test_the_seed_fixtures_are_all_there() -> None:
    on_disk = {p.relative_to(SEED_DIR).as_posix() for p in SEED_DIR.rglob("*.json")}
    assert on_disk == set(SEED_ORIGIN)
    assert len(list(SEED_FEATURE.glob("subtask_*.json"))) == 12


@pytest.mark.parametrize("fixture", sorted(SEED_ORIGIN))
def test_seed_document_validates(fixture: str) -> None:
    assert_valid(seed_schema_name(fixture), load_json(SEED_DIR / fixture))


def extract_seed_documents(text: str) -> Dict[str, Any]:
    """The JSON value after each ``File: <path>.json`` line of a seed document."""
    decoder = json.JSONDecoder()
    found: Dict[str, Any] = {}
    for match in re.finditer(r"^File: (\S+\.json)[ \t]*$", text, re.MULTILINE):
        start = match.end()
        while text[start].isspace():
            start += 1
        found[match.group(1)], _ = decoder.raw_decode(text, start)
    return found


def test_the_seed_fixtures_equal_the_seed_document() -> None:
    sources = sorted(SEED_SOURCE_DIR.glob("004_*.txt"))
    if not sources:
        pytest.skip(f"seed document not available in {SEED_SOURCE_DIR}")
    extracted = extract_seed_documents(sources[0].read_text(encoding="utf-8"))
    assert set(extracted) == set(SEED_ORIGIN.values())
    for fixture, origin in SEED_ORIGIN.items():
        assert load_json(SEED_DIR / fixture) == extracted[origin], fixture


def test_a_seed_subtask_is_refused_when_broken() -> None:
    """The seed validates because the schema is right, not because it accepts anything."""
    subtask = load_json(SEED_FEATURE / "subtask_03.json")
    broken = edit(subtask, {"/context_files/1/path": DELETE, "/seq": "3"})
    found = {(pointer(e.absolute_path), e.validator) for e in errors("subtask", broken)}
    assert found == {("/context_files/1", "required"), ("/seq", "pattern")}


# -- refusals: every required part and enum ---------------------------------------------------

LONG = "x" * 201
SEED_CONTEXTS = load_json(SEED_DIR / "contexts.json")
SEED_MAP = load_json(SEED_DIR / "map.json")
SEED_PRIORITIZED = load_json(SEED_DIR / "prioritized.json")
SEED_CONTRACT = load_json(SEED_DIR / "contract.json")

# Per schema: the valid document the cases change, then
# (case id, {JSON pointer: new value or DELETE}, pointer of the expected error, its keyword).
REFUSALS: Dict[str, Tuple[Any, List[Tuple[str, Dict[str, Any], str, str]]]] = {
    "task": (FULL_TASK, [
        *((f"without-{f}", {f"/{f}": DELETE}, "", "required") for f in sorted(MINIMAL_TASK)),
        *((f"status-{v!r}", {"/status": v}, "/status", "enum")
          for v in ("done", "pending", "in_progress", "Active", "", None)),
        ("id-not-kebab", {"/id": "Auth System"}, "/id", "pattern"),
        ("id-trailing-newline", {"/id": "auth\n"}, "/id", "pattern"),
        ("name-101", {"/name": "n" * 101}, "/name", "maxLength"),
        ("objective-201", {"/objective": LONG}, "/objective", "maxLength"),
        ("subtask-count-negative", {"/subtask_count": -1}, "/subtask_count", "minimum"),
        ("completed-count-string", {"/completed_count": "0"}, "/completed_count", "type"),
        ("completed-at-number", {"/completed_at": 0}, "/completed_at", "type"),
        ("exit-criteria-string", {"/exit_criteria": "done"}, "/exit_criteria", "type"),
        ("context-object-without-path", {"/context_files/2/path": DELETE}, "/context_files/2",
         "required"),
        ("reference-object-without-path", {"/reference_files/1/path": DELETE},
         "/reference_files/1", "required"),
        ("context-file-number", {"/context_files/0": 7}, "/context_files/0", "type"),
        ("context-file-empty", {"/context_files/0": ""}, "/context_files/0", "minLength"),
        ("context-path-list", {"/context_files/1/path": ["a"]}, "/context_files/1/path", "type"),
        ("lines-number", {"/context_files/2/lines": 10}, "/context_files/2/lines", "type"),
        ("reason-201", {"/context_files/2/reason": LONG}, "/context_files/2/reason", "maxLength"),
        ("contract-without-name", {"/contracts/0/name": DELETE}, "/contracts/0", "required"),
        ("contract-type", {"/contracts/0/type": "rest"}, "/contracts/0/type", "enum"),
        ("contract-status", {"/contracts/0/status": "done"}, "/contracts/0/status", "enum"),
        ("contract-description-201", {"/contracts/0/description": LONG},
         "/contracts/0/description", "maxLength"),
        ("design-without-url-or-path", {"/design_components/0/url": DELETE},
         "/design_components/0", "anyOf"),
        ("design-type", {"/design_components/1/type": "photo"}, "/design_components/1/type",
         "enum"),
        ("design-description-201", {"/design_components/0/description": LONG},
         "/design_components/0/description", "maxLength"),
        ("adr-without-id", {"/related_adrs/0/id": DELETE}, "/related_adrs/0", "required"),
        ("adr-decision-201", {"/related_adrs/0/decision": LONG}, "/related_adrs/0/decision",
         "maxLength"),
        ("rice-input-string", {"/rice_score/reach": "5000"}, "/rice_score/reach", "type"),
        ("rice-without-effort", {"/rice_score/effort": DELETE}, "/rice_score", "required"),
        ("rice-score-boolean", {"/rice_score/score": True}, "/rice_score/score", "type"),
        ("wsjf-input-string", {"/wsjf_score/job_size": "3"}, "/wsjf_score/job_size", "type"),
        ("wsjf-without-business-value", {"/wsjf_score/business_value": DELETE}, "/wsjf_score",
         "required"),
    ]),
    "subtask": (FULL_SUBTASK, [
        *((f"without-{f}", {f"/{f}": DELETE}, "", "required") for f in sorted(MINIMAL_SUBTASK)),
        *((f"status-{v!r}", {"/status": v}, "/status", "enum")
          for v in ("done", "active", "failed", "archived", "Pending", None)),
        *((f"seq-{v!r}", {"/seq": v}, "/seq", "pattern")
          for v in ("1", "a1", "01a", "", "01\n", " 01", "1 2", "\u0660\u0661", "\uff10\uff11")),
        *((f"seq-{v!r}", {"/seq": v}, "/seq", "type") for v in (3, 12, 1.5, None, ["01"])),
        ("depends-on-bad-seq", {"/depends_on": ["01", "2"]}, "/depends_on/1", "pattern"),
        ("depends-on-integer", {"/depends_on": [1]}, "/depends_on/0", "type"),
        ("depends-on-string", {"/depends_on": "01"}, "/depends_on", "type"),
        ("parallel-string", {"/parallel": "yes"}, "/parallel", "type"),
        ("title-101", {"/title": "t" * 101}, "/title", "maxLength"),
        ("summary-201", {"/completion_summary": LONG}, "/completion_summary", "maxLength"),
        ("agent-id-number", {"/agent_id": 7}, "/agent_id", "type"),
        ("started-at-number", {"/started_at": 1}, "/started_at", "type"),
        ("deliverable-number", {"/deliverables/0": 1}, "/deliverables/0", "type"),
        ("criteria-string", {"/acceptance_criteria": "works"}, "/acceptance_criteria", "type"),
        ("context-object-without-path", {"/context_files/0/path": DELETE}, "/context_files/0",
         "required"),
        ("reference-object-without-path", {"/reference_files/0": {"lines": "1-5"}},
         "/reference_files/0", "required"),
        ("contract-without-name", {"/contracts/0/name": DELETE}, "/contracts/0", "required"),
        ("contract-type", {"/contracts/0/type": "class"}, "/contracts/0/type", "enum"),
        ("contract-status", {"/contracts/0/status": "wip"}, "/contracts/0/status", "enum"),
        ("design-without-url-or-path", {"/design_components/0/path": DELETE},
         "/design_components/0", "anyOf"),
        ("design-type", {"/design_components/0/type": "drawing"}, "/design_components/0/type",
         "enum"),
        ("adr-without-id", {"/related_adrs/0/id": DELETE}, "/related_adrs/0", "required"),
        # verification blocks (reference §2.6)
        ("verification-empty", {"/verification": []}, "/verification", "minItems"),
        ("verification-string", {"/verification": "npm test"}, "/verification", "type"),
        ("verification-null", {"/verification": None}, "/verification", "type"),
        ("check-string", {"/verification/0": "npm test"}, "/verification/0", "type"),
        ("check-unknown-type", {"/verification/0/type": "shell"}, "/verification/0/type",
         "enum"),
        ("check-grep-absent", {"/verification/2/type": "grep_absent"}, "/verification/2/type",
         "enum"),
        ("check-without-type", {"/verification/0/type": DELETE}, "/verification/0", "required"),
        ("timeout-zero", {"/verification/0/timeout_ms": 0}, "/verification/0/timeout_ms",
         "exclusiveMinimum"),
        ("timeout-negative", {"/verification/0/timeout_ms": -5}, "/verification/0/timeout_ms",
         "exclusiveMinimum"),
        ("timeout-string", {"/verification/0/timeout_ms": "60s"}, "/verification/0/timeout_ms",
         "type"),
        ("command-missing", {"/verification/1/command": DELETE}, "/verification/1", "required"),
        ("command-blank", {"/verification/1/command": "  "}, "/verification/1/command",
         "pattern"),
        ("command-list", {"/verification/1/command": ["npm", "test"]},
         "/verification/1/command", "type"),
        ("expect-exit-string", {"/verification/0/expect_exit": "0"},
         "/verification/0/expect_exit", "type"),
        ("expect-exit-fraction", {"/verification/0/expect_exit": 0.5},
         "/verification/0/expect_exit", "type"),
        ("command-expect-contains-number", {"/verification/0/expect_contains": 1},
         "/verification/0/expect_contains", "type"),
        ("command-misspelt-key", {"/verification/1/expect_exits": 1}, "/verification/1",
         "additionalProperties"),
        ("file-exists-without-path", {"/verification/2/path": DELETE}, "/verification/2",
         "required"),
        ("file-exists-empty-path", {"/verification/2/path": ""}, "/verification/2/path",
         "pattern"),
        ("file-exists-with-command", {"/verification/2/command": "ls"}, "/verification/2",
         "additionalProperties"),
        ("file-contains-without-path", {"/verification/3/path": DELETE}, "/verification/3",
         "required"),
        ("file-contains-without-expect", {"/verification/3/expect_contains": DELETE},
         "/verification/3", "required"),
        ("file-contains-blank-expect", {"/verification/3/expect_contains": " "},
         "/verification/3/expect_contains", "pattern"),
    ]),
    "contexts": (SEED_CONTEXTS, [
        ("without-bounded-contexts", {"/bounded_contexts": DELETE}, "", "required"),
        ("no-bounded-contexts", {"/bounded_contexts": []}, "/bounded_contexts", "minItems"),
        ("context-without-name", {"/bounded_contexts/0/name": DELETE}, "/bounded_contexts/0",
         "required"),
        ("context-type", {"/bounded_contexts/0/type": "main"}, "/bounded_contexts/0/type",
         "enum"),
        ("event-without-name", {"/bounded_contexts/0/domain_events/0/name": DELETE},
         "/bounded_contexts/0/domain_events/0", "required"),
        ("relationship-without-upstream", {"/context_relationships/0/upstream": DELETE},
         "/context_relationships/0", "required"),
        ("relationship-without-downstream", {"/context_relationships/1/downstream": DELETE},
         "/context_relationships/1", "required"),
        ("term-not-text", {"/ubiquitous_language/Order": ["a"]}, "/ubiquitous_language/Order",
         "type"),
    ]),
    "story-map": (SEED_MAP, [
        ("without-stories", {"/stories": DELETE}, "", "required"),
        ("no-stories", {"/stories": []}, "/stories", "minItems"),
        ("story-without-id", {"/stories/0/id": DELETE}, "/stories/0", "required"),
        ("story-without-title", {"/stories/1/title": DELETE}, "/stories/1", "required"),
        ("story-dependencies-string", {"/stories/2/dependencies": "story-order-001"},
         "/stories/2/dependencies", "type"),
        ("story-criteria-string", {"/stories/0/acceptance_criteria": "works"},
         "/stories/0/acceptance_criteria", "type"),
        ("story-parallel-string", {"/stories/0/parallel": "true"}, "/stories/0/parallel", "type"),
        ("epic-without-id", {"/epics/0/id": DELETE}, "/epics/0", "required"),
    ]),
    "prioritized": (SEED_PRIORITIZED, [
        ("without-feature-lists", {"/mvp_features": DELETE, "/post_mvp_features": DELETE}, "",
         "anyOf"),
        ("item-without-id", {"/mvp_features/0/id": DELETE}, "/mvp_features/0", "required"),
        ("rice-input-string", {"/mvp_features/1/rice_score/reach": "50000"},
         "/mvp_features/1/rice_score/reach", "type"),
        ("rice-without-confidence", {"/mvp_features/1/rice_score/confidence": DELETE},
         "/mvp_features/1/rice_score", "required"),
        ("wsjf-without-job-size", {"/post_mvp_features/0/wsjf_score/job_size": DELETE},
         "/post_mvp_features/0/wsjf_score", "required"),
        ("rank-zero", {"/mvp_features/0/combined_rank": 0}, "/mvp_features/0/combined_rank",
         "minimum"),
    ]),
    "contract": (SEED_CONTRACT, [
        ("without-contract-id", {"/contract_id": DELETE}, "", "required"),
        ("without-version", {"/version": DELETE}, "", "required"),
        ("contract-id-escapes", {"/contract_id": "../x"}, "/contract_id", "pattern"),
        ("consumer-without-name", {"/consumers/0/name": DELETE}, "/consumers/0", "required"),
        ("provider-without-name", {"/providers/0/name": DELETE}, "/providers/0", "required"),
        ("port-zero", {"/mock_server/port": 0}, "/mock_server/port", "minimum"),
    ]),
}  # fmt: skip

NEGATIVE = [
    (f"{name}-{case}", name, edit(base, changes), where, keyword)
    for name, (base, cases) in REFUSALS.items()
    for case, changes, where, keyword in cases
]


def test_negative_case_ids_are_unique() -> None:
    ids = [case[0] for case in NEGATIVE]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("name", NAMES)
def test_not_an_object_is_refused(name: str) -> None:
    not_objects: List[Any] = [[], "task", None, 1]
    for document in not_objects:
        assert [e.validator for e in errors(name, document)] == ["type"]


@pytest.mark.parametrize(
    ("name", "document", "where", "keyword"),
    [case[1:] for case in NEGATIVE],
    ids=[case[0] for case in NEGATIVE],
)
def test_refused(name: str, document: Any, where: str, keyword: str) -> None:
    reported = [(pointer(e.absolute_path), e.validator) for e in errors(name, document)]
    assert (where, keyword) in reported, reported


# -- acceptances ------------------------------------------------------------------------------

UNKNOWN_FIELDS = {
    "/x_custom": {"nested": [1, 2, {"deep": None}]},
    "/priority": 3,
    "/verification_spec": {"commands": [{"id": "t", "run": "npm test", "expect_exit_code": 0}]},
    "/notes": None,
}

# (case id, schema, the valid document to change, {JSON pointer: new value or DELETE})
ACCEPTANCES: List[Tuple[str, str, Any, Dict[str, Any]]] = [
    ("task-unknown-fields", "task", FULL_TASK, UNKNOWN_FIELDS),
    ("subtask-unknown-fields", "subtask", FULL_SUBTASK, UNKNOWN_FIELDS),
    ("minimal-task-unknown-fields", "task", MINIMAL_TASK, UNKNOWN_FIELDS),
    ("minimal-subtask-unknown-fields", "subtask", MINIMAL_SUBTASK, UNKNOWN_FIELDS),
    ("seed-task-unknown-fields", "task", load_json(SEED_FEATURE / "task.json"), UNKNOWN_FIELDS),
    *((f"task-status-{v}", "task", MINIMAL_TASK, {"/status": v})
      for v in ("active", "completed", "blocked", "archived")),
    *((f"subtask-status-{v}", "subtask", MINIMAL_SUBTASK, {"/status": v})
      for v in ("pending", "in_progress", "completed", "blocked")),
    *((f"seq-{v}", "subtask", MINIMAL_SUBTASK, {"/seq": v, "/depends_on": [v]})
      for v in ("01", "00", "99", "100", "117", "04210")),
    *((f"contract-type-{v}", "task", MINIMAL_TASK, {"/contracts": [{"name": "C", "type": v}]})
      for v in ("api", "interface", "event", "schema")),
    *((f"contract-status-{v}", "subtask", MINIMAL_SUBTASK,
       {"/contracts": [{"name": "C", "status": v}]})
      for v in ("draft", "defined", "implemented", "verified")),
    *((f"design-type-{v}", "subtask", MINIMAL_SUBTASK,
       {"/design_components": [{"type": v, "url": "https://example.com/d"}]})
      for v in ("figma", "wireframe", "mockup", "prototype", "sketch")),
    ("design-url-and-path", "task", MINIMAL_TASK,
     {"/design_components": [{"url": "u", "path": "p"}]}),
    ("context-files-mixed", "subtask", MINIMAL_SUBTASK,
     {"/context_files": ["a.md", {"path": "b.md"}, {"path": "c.md", "lines": "1-2"}]}),
    ("lines-empty-means-whole-file", "task", MINIMAL_TASK,
     {"/context_files": [{"path": "a", "lines": ""}]}),
    ("lines-syntax-is-checked-by-code", "task", MINIMAL_TASK,
     {"/context_files": [{"path": "a", "lines": "9-1,,x"}]}),
    ("score-ranges-are-checked-by-code", "task", MINIMAL_TASK,
     {"/rice_score": {"reach": -1, "impact": 99, "confidence": 500, "effort": 0, "score": 1}}),
    ("unknown-keys-in-open-nested-objects", "task", FULL_TASK, {
        "/context_files/2/sha": "abc", "/contracts/0/owner": "team-a",
        "/design_components/0/frame": "12:3", "/related_adrs/0/status": "accepted",
        "/rice_score/justification": {"reach": "why"}, "/wsjf_score/notes": "n"}),
    ("nullable-lifecycle-fields", "subtask", FULL_SUBTASK, {
        "/agent_id": None, "/started_at": None, "/completed_at": None,
        "/completion_summary": None}),
    ("completed-subtask", "subtask", FULL_SUBTASK, {
        "/status": "completed", "/completed_at": "2026-02-14T13:00:00.000Z",
        "/completion_summary": "Hasher implemented with argon2id"}),
    ("boundary-lengths", "subtask", MINIMAL_SUBTASK,
     {"/title": "t" * 100, "/completion_summary": "s" * 200}),
    ("boundary-lengths-task", "task", FULL_TASK, {
        "/name": "\u00e9" * 100, "/objective": "o" * 200, "/context_files/2/reason": "r" * 200,
        "/contracts/0/description": "d" * 200, "/related_adrs/0/decision": "d" * 200}),
    ("timestamps-are-annotations", "task", MINIMAL_TASK, {"/created_at": "yesterday"}),
    ("timeout-fractional", "subtask", FULL_SUBTASK, {"/verification/0/timeout_ms": 0.5}),
    ("expect-exit-nonzero-contains-empty", "subtask", FULL_SUBTASK,
     {"/verification/0/expect_exit": 2, "/verification/0/expect_contains": ""}),
    ("expect-exit-integral-float", "subtask", FULL_SUBTASK, {"/verification/0/expect_exit": 1.0}),
    ("verification-paths-are-checked-by-code", "subtask", FULL_SUBTASK,
     {"/verification/2/path": "a..b.txt"}),
    ("single-check", "subtask", MINIMAL_SUBTASK,
     {"/verification": [{"type": "file_exists", "path": "README.md"}]}),
    ("contexts-unknown-keys", "contexts", SEED_CONTEXTS,
     {"/diagram": "c4.svg", "/bounded_contexts/0/owner": "team-a"}),
    ("contexts-without-relationships", "contexts", SEED_CONTEXTS,
     {"/context_relationships": DELETE}),
    ("story-without-criteria-is-left-to-the-gate", "story-map", SEED_MAP,
     {"/stories/0/acceptance_criteria": DELETE}),
    ("prioritized-only-mvp", "prioritized", SEED_PRIORITIZED, {"/post_mvp_features": DELETE}),
    ("prioritized-only-post-mvp", "prioritized", SEED_PRIORITIZED, {"/mvp_features": DELETE}),
    ("prioritized-justification-text", "prioritized", SEED_PRIORITIZED,
     {"/mvp_features/0/wsjf_score/justification": "Obvious"}),
    ("contract-unknown-keys", "contract", SEED_CONTRACT, {"/sla": {"p99_ms": 200}}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "document"),
    [(name, edit(base, changes)) for _, name, base, changes in ACCEPTANCES],
    ids=[case[0] for case in ACCEPTANCES],
)
def test_accepted(name: str, document: Any) -> None:
    assert_valid(name, document)


@given(
    st.one_of(
        st.text(max_size=8),
        st.from_regex(r"[0-9]{1,7}", fullmatch=True),
        st.from_regex(r"[0-9]{2,5}\s?", fullmatch=True),
    )
)
def test_seq_is_two_or_more_ascii_digits_and_nothing_else(seq: str) -> None:
    expected = re.fullmatch(r"[0-9]{2,}", seq) is not None
    assert validator("subtask").is_valid({**MINIMAL_SUBTASK, "seq": seq}) is expected

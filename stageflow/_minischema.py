"""A small, fast checker for the subset of JSON Schema that stageflow's own documents use.

Why it exists: ``jsonschema`` takes over 100 ms to import, and ``stageflow stage status``
must start in a few tens of milliseconds. The packaged schema stays the single source of
truth: this module compiles the *same* schema file into nested closures, and a test runs it
against ``jsonschema`` on generated documents so the two never disagree.

Supported keywords: ``type``, ``enum``, ``const``, ``required``, ``properties``,
``additionalProperties`` (boolean), ``items``, ``minItems``, ``pattern``, ``minLength``,
``maxLength``, ``minimum``, ``exclusiveMinimum``, ``allOf``, ``anyOf``, ``if``/``then``/
``else``, ``$ref`` (local ``#/$defs/...``), and the annotations ``title``, ``description``
and ``format``. ``format`` asserts nothing, as in draft 2020-12's default vocabulary and in
:mod:`stageflow.schema`'s validators, which are built without a format checker. Any other
keyword in a schema is an error at compile time, so an unsupported keyword can never be
silently ignored.

JSON pointers of problems are built only when a problem is found, so checking a valid
document allocates almost nothing; :meth:`MiniSchema.is_valid` stops at the first problem
and builds no message at all. Each node compiles to the fewest closures its keywords need
(a plain ``$ref`` is the target's check itself, a one-type node one ``isinstance``); the
closures and the shortcuts for common shapes are in :mod:`stageflow._minicheck`.
"""

from __future__ import annotations

from ._minicheck import (
    array_check,
    general_check,
    json_type,
    leaf_of,
    number_check,
    predicate,
    property_spec,
    string_check,
    tags,
    typed_check,
)

# typing is imported only by type checkers: this module is on the CLI's fast path.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

    from ._minicheck import Check, Leaf, Path, Report

_SUPPORTED = {
    "$schema", "$id", "$defs", "title", "description", "format", "type", "enum", "const",
    "required", "properties", "additionalProperties", "items", "minItems", "pattern",
    "minLength", "maxLength", "minimum", "exclusiveMinimum", "$ref", "allOf", "anyOf", "if",
    "then", "else",
}  # fmt: skip


class _Enough(Exception):
    """Raised to stop checking once the requested number of problems is found."""


def pointer_part(key: Any) -> str:
    """One step of a JSON pointer (RFC 6901): ``/`` and the escaped key."""
    return "/" + str(key).replace("~", "~0").replace("/", "~1")


def json_type_phrase(value: object) -> str:
    """A JSON value's type for messages: "an object", "a number", "null"..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


def pointer(path: Path) -> str:
    """The JSON pointer of a linked ``(parent, key)`` path (``/`` for the root)."""
    parts: List[str] = []
    while path is not None:
        path, key = path
        parts.append(pointer_part(key))
    return "".join(reversed(parts)) or "/"


class _Invalid(Exception):
    """Raised by :func:`_fail`: the first problem settles that a value is invalid."""


def _fail(path: Path, problem: str) -> None:
    raise _Invalid


def _passes(check: Check, value: Any) -> bool:
    """True if ``value`` passes ``check`` (used by ``anyOf`` and ``if``, and is_valid)."""
    try:
        check(value, None, _fail)
    except _Invalid:
        return False
    return True


def _accept(value: Any, path: Path, report: Report) -> None:
    """The check of a schema without assertions."""


class MiniSchema:
    """A compiled checker for one schema document."""

    def __init__(self, schema: Dict[str, Any]) -> None:
        self.schema = schema
        self._compiled: Dict[str, List[Check]] = {}
        # The checks simple enough for their parent to test inline, without calling them.
        self._leaves: Dict[Check, Leaf] = {}
        self._root = self._compile(schema, "#")
        for name in schema.get("$defs", {}):  # unreferenced definitions are checked too
            self._ref(f"#/$defs/{name}")

    def errors(self, instance: Any, limit: int = 10) -> List[str]:
        """Up to ``limit`` problems, each ``"<JSON pointer>: <problem>"``; empty if valid."""
        found: List[str] = []

        def report(path: Path, problem: str) -> None:
            found.append(f"{pointer(path)}: {problem}")
            if len(found) >= limit:
                raise _Enough

        try:  # noqa: SIM105 - contextlib is kept off the fast path
            self._root(instance, None, report)
        except _Enough:
            pass
        return found

    def is_valid(self, instance: Any) -> bool:
        """True if ``instance`` is valid; stops at the first problem and builds no message."""
        try:
            self._root(instance, None, _fail)
        except _Invalid:
            return False
        return True

    # -- compilation ---------------------------------------------------------------------

    def _ref(self, ref: str) -> Check:
        if not ref.startswith("#/"):
            raise ValueError(f"only local references are supported, not {ref!r}")
        holder = self._compiled.get(ref)
        if holder is None:
            holder = self._compiled[ref] = []  # filled below; allows recursive schemas
            node: Any = self.schema
            for part in ref[2:].split("/"):
                node = node[part]
            holder.append(self._compile(node, ref))
        if holder:  # compiled: call it directly
            return holder[0]

        def check(value: Any, path: Path, report: Report) -> None:  # a recursive reference
            holder[0](value, path, report)

        return check

    def _compile(self, node: Dict[str, Any], where: str) -> Check:
        """One check for ``node``: its ``$ref``, applicators and assertions, in that order."""
        if not isinstance(node, dict):
            raise ValueError(f"{where}: a schema must be an object")
        unknown = set(node) - _SUPPORTED
        if unknown:
            raise ValueError(f"{where}: unsupported schema keywords {sorted(unknown)}")
        parts: List[Check] = []
        if "$ref" in node:
            parts.append(self._ref(node["$ref"]))
        if "allOf" in node:
            parts.extend(self._all_of(node["allOf"], where))
        if "anyOf" in node:
            parts.append(self._any_of(node["anyOf"], where))
        if "if" in node and ("then" in node or "else" in node):
            parts.append(self._if(node, where))
        assertions = self._assertions(node, where)
        if assertions is not None:
            parts.append(assertions)
        if not parts:
            return _accept
        if len(parts) == 1:
            if assertions is not None:
                leaf = leaf_of(node)
                if leaf is not None:
                    self._leaves[assertions] = leaf
            return parts[0]
        checks = tuple(parts)

        def check(value: Any, path: Path, report: Report) -> None:
            for part in checks:
                part(value, path, report)

        return check

    def _all_of(self, options: List[Any], where: str) -> List[Check]:
        """The checks of ``allOf``; one dispatch for a list of ``if`` on one ``const``.

        The shape of tagged unions: ``{"if": {"properties": {K: {"const": C}},
        "required": [K]}, "then": ...}`` for distinct strings ``C``. An object whose ``K``
        is a string meets the condition of the branch named by it and of no other; any
        other value takes the branches one by one.
        """
        checks = [self._compile(sub, f"{where}/allOf/{n}") for n, sub in enumerate(options)]
        tag = tags(options)
        if tag is None:
            return checks
        key, consts = tag
        table = {const: checks[n] for n, const in enumerate(consts)}
        each = tuple(checks)

        def check(value: Any, path: Path, report: Report) -> None:
            if type(value) is dict:
                if key not in value:
                    return  # no condition holds
                found = value[key]
                if type(found) is str:
                    branch = table.get(found)
                    if branch is not None:
                        branch(value, path, report)
                    return
            for branch in each:
                branch(value, path, report)

        return [check]

    def _any_of(self, options: List[Any], where: str) -> Check:
        branches = tuple(self._compile(s, f"{where}/anyOf/{n}") for n, s in enumerate(options))
        tests = tuple(predicate(option) for option in options)
        problem = f"matches none of the {len(branches)} allowed shapes (anyOf)"
        if all(test is not None for test in tests):
            quick = tuple(t for t in tests if t is not None)

            def check_quick(value: Any, path: Path, report: Report) -> None:
                for test in quick:
                    if test(value):
                        return
                report(path, problem)

            return check_quick

        def check(value: Any, path: Path, report: Report) -> None:
            for branch in branches:
                if _passes(branch, value):
                    return
            report(path, problem)

        return check

    def _if(self, node: Dict[str, Any], where: str) -> Check:
        condition = self._compile(node["if"], f"{where}/if")
        then = self._compile(node["then"], f"{where}/then") if "then" in node else _accept
        otherwise = self._compile(node["else"], f"{where}/else") if "else" in node else _accept
        test = predicate(node["if"])
        if test is not None:

            def check_quick(value: Any, path: Path, report: Report) -> None:
                if test(value):
                    then(value, path, report)
                else:
                    otherwise(value, path, report)

            return check_quick

        def check(value: Any, path: Path, report: Report) -> None:
            if _passes(condition, value):
                then(value, path, report)
            else:
                otherwise(value, path, report)

        return check

    def _assertions(self, node: Dict[str, Any], where: str) -> Optional[Check]:
        """The check of ``node``'s own assertions (None when it has none)."""
        has_const, const = "const" in node, node.get("const")
        enum = node.get("enum")
        types = node.get("type")
        allowed: Optional[List[str]] = [types] if isinstance(types, str) else types
        # One type and no const or enum: the common case, where the check of the type's
        # keywords tests the type itself (one call for the node).
        single = None
        if allowed is not None and len(allowed) == 1 and not has_const and enum is None:
            single = allowed[0]
        string = number = array = obj = None  # the keywords of each type, if it has any
        if "minLength" in node or "maxLength" in node or "pattern" in node:
            string = string_check(node, single == "string")
        if "minimum" in node or "exclusiveMinimum" in node:
            number = number_check(node)
        if "items" in node or "minItems" in node:
            items = self._compile(node["items"], f"{where}/items") if "items" in node else None
            if items is _accept:
                items = None
            leaf = self._leaves.get(items) if items is not None else None
            array = array_check(node.get("minItems"), items, leaf, single == "array")
        if "required" in node or "properties" in node or "additionalProperties" in node:
            obj = self._object_check(node, where, single == "object")
        kinds = (string, number, array, obj)
        if not has_const and enum is None and allowed is None and kinds == (None,) * 4:
            return None
        if single is None:
            return general_check(has_const, const, enum, allowed, kinds)
        own = {"string": string, "array": array, "object": obj}
        body = own.get(single)
        if body is not None:
            return body
        # A keyword of another type never applies to a value of the right type.
        return typed_check(single, number if single in ("number", "integer") else None)

    def _object_check(self, node: Dict[str, Any], where: str, typed: bool) -> Optional[Check]:
        required = tuple(node.get("required", ()))
        properties = {
            name: self._compile(sub, f"{where}/properties/{name}")
            for name, sub in node.get("properties", {}).items()
        }
        closed = node.get("additionalProperties", True) is False
        if not closed:  # properties without assertions need no look
            properties = {k: v for k, v in properties.items() if v is not _accept}
        if not required and not properties and not closed:
            return None
        # Each property: its check and, for a leaf, the test its value passes when valid.
        # A value that fails the inline test goes to the check, which reports the problem.
        specs = {
            name: property_spec(sub, self._leaves.get(sub)) for name, sub in properties.items()
        }
        get = specs.get

        def check(value: Any, path: Path, report: Report) -> None:
            if typed and not isinstance(value, dict):
                report(path, f"expected object, found {json_type(value)}")
                return
            for name in required:
                if name not in value:
                    report(path, f"missing required property {name!r}")
            for name, item in value.items():
                spec = get(name)
                if spec is None:
                    if closed:
                        report(path, f"unexpected property {name!r}")
                    continue
                if type(item) is spec[1]:  # a leaf's exact type: test it inline
                    limits = spec[2]
                    if limits is None:
                        continue
                    shortest, longest, search, choices = limits
                    if (
                        shortest <= len(item) <= longest
                        and (search is None or search(item))
                        and (choices is None or item in choices)
                    ):
                        continue
                spec[0](item, (path, name), report)

        return check

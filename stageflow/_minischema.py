"""A small, fast checker for the subset of JSON Schema that stageflow's own documents use.

Why it exists: ``jsonschema`` takes over 100 ms to import, and ``stageflow stage status``
must start in a few tens of milliseconds. The packaged schema stays the single source of
truth: this module compiles the *same* schema file into nested closures, and a test runs it
against ``jsonschema`` on generated documents so the two never disagree.

Supported keywords: ``type``, ``enum``, ``const``, ``required``, ``properties``,
``additionalProperties`` (boolean), ``items``, ``minItems``, ``pattern``, ``minLength``,
``minimum``, ``$ref`` (local ``#/$defs/...``). Any other keyword in a schema is an error at
compile time, so an unsupported keyword can never be silently ignored.

JSON pointers of problems are built only when a problem is found, so checking a valid
document allocates almost nothing.
"""

from __future__ import annotations

import re

# typing is imported only by type checkers: this module is on the CLI's fast path.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Tuple

    Path = Optional[Tuple[Any, Any]]  # (parent path, key): a linked list, root is None
    Report = Callable[[Path, str], None]
    Check = Callable[[Any, Path, Report], None]

_SUPPORTED = {
    "$schema", "$id", "$defs", "title", "description", "type", "enum", "const", "required",
    "properties", "additionalProperties", "items", "minItems", "pattern", "minLength",
    "minimum", "$ref",
}  # fmt: skip


class _Enough(Exception):
    """Raised to stop checking once the requested number of problems is found."""


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_TYPES: Dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": _is_integer,
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _json_type(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _TYPES[name](value):
            return name
    return type(value).__name__


def _same(a: Any, b: Any) -> bool:
    """JSON equality: ``True`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


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


class MiniSchema:
    """A compiled checker for one schema document."""

    def __init__(self, schema: Dict[str, Any]) -> None:
        self.schema = schema
        self._compiled: Dict[str, List[Check]] = {}
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

        def check(value: Any, path: Path, report: Report) -> None:
            holder[0](value, path, report)

        return check

    def _compile(self, node: Dict[str, Any], where: str) -> Check:
        if not isinstance(node, dict):
            raise ValueError(f"{where}: a schema must be an object")
        unknown = set(node) - _SUPPORTED
        if unknown:
            raise ValueError(f"{where}: unsupported schema keywords {sorted(unknown)}")
        ref = self._ref(node["$ref"]) if "$ref" in node else None
        has_const, const = "const" in node, node.get("const")
        enum = node.get("enum")
        if enum is not None:
            options_text = ", ".join("null" if o is None else str(o) for o in enum)
            simple = all(isinstance(o, str) or o is None for o in enum)
            enum_set = frozenset(enum) if simple else None
        types = node.get("type")
        allowed: Optional[List[str]] = [types] if isinstance(types, str) else types
        type_checks = [_TYPES[t] for t in allowed] if allowed is not None else None
        min_length = node.get("minLength")
        pattern = re.compile(node["pattern"]) if "pattern" in node else None
        minimum = node.get("minimum")
        min_items = node.get("minItems")
        items = self._compile(node["items"], f"{where}/items") if "items" in node else None
        required = tuple(node.get("required", ()))
        properties = {
            name: self._compile(sub, f"{where}/properties/{name}")
            for name, sub in node.get("properties", {}).items()
        }
        closed = node.get("additionalProperties", True) is False

        def check(value: Any, path: Path, report: Report) -> None:
            if ref is not None:
                ref(value, path, report)
            if has_const and not _same(value, const):
                report(path, f"expected {const!r}, found {value!r}")
                return
            if enum is not None:
                if enum_set is not None and not isinstance(value, bool):
                    known = (value is None or isinstance(value, str)) and value in enum_set
                else:
                    known = any(_same(value, option) for option in enum)
                if not known:
                    report(path, f"{value!r} is not one of: {options_text}")
                    return
            if type_checks is not None and not any(ok(value) for ok in type_checks):
                expected = " or ".join(allowed or ())
                report(path, f"expected {expected}, found {_json_type(value)}")
                return
            if isinstance(value, str):
                if min_length is not None and len(value) < min_length:
                    report(path, f"must not be shorter than {min_length} characters")
                if pattern is not None and not pattern.search(value):
                    report(path, f"{value!r} does not match {pattern.pattern}")
            elif isinstance(value, list):
                if min_items is not None and len(value) < min_items:
                    report(path, f"needs at least {min_items} item(s)")
                if items is not None:
                    for i, item in enumerate(value):
                        items(item, (path, i), report)
            elif isinstance(value, dict):
                for name in required:
                    if name not in value:
                        report(path, f"missing required property {name!r}")
                for name, item in value.items():
                    sub = properties.get(name)
                    if sub is not None:
                        sub(item, (path, name), report)
                    elif closed:
                        report(path, f"unexpected property {name!r}")
            elif minimum is not None and _is_number(value) and value < minimum:
                report(path, f"{value!r} is less than {minimum}")

        return check

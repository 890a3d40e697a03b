"""A small, fast checker for the subset of JSON Schema that stageflow's own documents use.

Why it exists: ``jsonschema`` takes over 100 ms to import, and ``stageflow stage status``
must start in a few tens of milliseconds. The packaged schema stays the single source of
truth: this module interprets the *same* schema file, and a test runs it against
``jsonschema`` on generated documents so the two never disagree.

Supported keywords: ``type``, ``enum``, ``const``, ``required``, ``properties``,
``additionalProperties`` (boolean), ``items``, ``minItems``, ``pattern``, ``minLength``,
``minimum``, ``$ref`` (local ``#/$defs/...``). Anything else in a schema is an error, so an
unsupported keyword can never be silently ignored.
"""

from __future__ import annotations

import re

# typing is imported only by type checkers: this module is on the CLI's fast path.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Iterator, List, Pattern

_SUPPORTED = {
    "$schema", "$id", "$defs", "title", "description", "type", "enum", "const", "required",
    "properties", "additionalProperties", "items", "minItems", "pattern", "minLength",
    "minimum", "$ref",
}  # fmt: skip

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
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
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


class MiniSchema:
    """A compiled checker for one schema document."""

    def __init__(self, schema: Dict[str, Any]) -> None:
        self.schema = schema
        self._patterns: Dict[str, Pattern[str]] = {}
        self._check_keywords(schema, "#")

    def _check_keywords(self, node: Any, where: str) -> None:
        if not isinstance(node, dict):
            return
        unknown = set(node) - _SUPPORTED
        if unknown:
            raise ValueError(f"{where}: unsupported schema keywords {sorted(unknown)}")
        for name, sub in node.get("$defs", {}).items():
            self._check_keywords(sub, f"{where}/$defs/{name}")
        for name, sub in node.get("properties", {}).items():
            self._check_keywords(sub, f"{where}/properties/{name}")
        if "items" in node:
            self._check_keywords(node["items"], f"{where}/items")

    def errors(self, instance: Any, limit: int = 10) -> List[str]:
        """Up to ``limit`` problems, each ``"<JSON pointer>: <problem>"``; empty if valid."""
        found: List[str] = []
        for problem in self._iter(self.schema, instance, ""):
            found.append(problem)
            if len(found) >= limit:
                break
        return found

    def _resolve(self, ref: str) -> Dict[str, Any]:
        if not ref.startswith("#/"):
            raise ValueError(f"only local references are supported, not {ref!r}")
        node: Any = self.schema
        for part in ref[2:].split("/"):
            node = node[part]
        return node  # type: ignore[no-any-return]

    def _pattern(self, text: str) -> Pattern[str]:
        compiled = self._patterns.get(text)
        if compiled is None:
            compiled = self._patterns[text] = re.compile(text)
        return compiled

    def _iter(self, schema: Dict[str, Any], value: Any, at: str) -> Iterator[str]:
        if "$ref" in schema:
            yield from self._iter(self._resolve(schema["$ref"]), value, at)
        where = at or "/"
        if "const" in schema and not _same(value, schema["const"]):
            yield f"{where}: expected {schema['const']!r}, found {value!r}"
            return
        if "enum" in schema and not any(_same(value, option) for option in schema["enum"]):
            options = ", ".join("null" if o is None else str(o) for o in schema["enum"])
            yield f"{where}: {value!r} is not one of: {options}"
            return
        if "type" in schema:
            allowed = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(_TYPES[t](value) for t in allowed):
                yield f"{where}: expected {' or '.join(allowed)}, found {_json_type(value)}"
                return
        if isinstance(value, str):
            if "minLength" in schema and len(value) < schema["minLength"]:
                yield f"{where}: must not be shorter than {schema['minLength']} characters"
            if "pattern" in schema and not self._pattern(schema["pattern"]).search(value):
                yield f"{where}: {value!r} does not match {schema['pattern']}"
        elif _TYPES["number"](value):
            if "minimum" in schema and value < schema["minimum"]:
                yield f"{where}: {value!r} is less than {schema['minimum']}"
        elif isinstance(value, list):
            if "minItems" in schema and len(value) < schema["minItems"]:
                yield f"{where}: needs at least {schema['minItems']} item(s)"
            if "items" in schema:
                for i, item in enumerate(value):
                    yield from self._iter(schema["items"], item, f"{at}/{i}")
        elif isinstance(value, dict):
            for name in schema.get("required", ()):
                if name not in value:
                    yield f"{where}: missing required property {name!r}"
            properties = schema.get("properties", {})
            for name, item in value.items():
                if name in properties:
                    yield from self._iter(properties[name], item, f"{at}/{_escape(name)}")
                elif schema.get("additionalProperties", True) is False:
                    yield f"{where}: unexpected property {name!r}"


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")

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
(a plain ``$ref`` is the target's check itself, a one-type node one ``isinstance``).
"""

from __future__ import annotations

import re

# typing is imported only by type checkers: this module is on the CLI's fast path.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, FrozenSet, List, Optional, Tuple

    Path = Optional[Tuple[Any, Any]]  # (parent path, key): a linked list, root is None
    Report = Callable[[Path, str], None]
    Check = Callable[[Any, Path, Report], None]
    # A leaf's test inlined in its parent's loop: (exact Python type, shortest, longest,
    # pattern search, allowed strings). Length, search and choices apply to strings only.
    Leaf = Tuple[Any, int, int, Optional[Callable[[str], Any]], Optional[FrozenSet[str]]]

_SUPPORTED = {
    "$schema", "$id", "$defs", "title", "description", "format", "type", "enum", "const",
    "required", "properties", "additionalProperties", "items", "minItems", "pattern",
    "minLength", "maxLength", "minimum", "exclusiveMinimum", "$ref", "allOf", "anyOf", "if",
    "then", "else",
}  # fmt: skip


_LONGEST = 1 << 62


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
                leaf = _leaf(node)
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
        tag = _tags(options)
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
        tests = tuple(_predicate(option) for option in options)
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
        test = _predicate(node["if"])
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
            string = _string_check(node, single == "string")
        if "minimum" in node or "exclusiveMinimum" in node:
            number = _number_check(node)
        if "items" in node or "minItems" in node:
            items = self._compile(node["items"], f"{where}/items") if "items" in node else None
            if items is _accept:
                items = None
            leaf = self._leaves.get(items) if items is not None else None
            array = _array_check(node.get("minItems"), items, leaf, single == "array")
        if "required" in node or "properties" in node or "additionalProperties" in node:
            obj = self._object_check(node, where, single == "object")
        kinds = (string, number, array, obj)
        if not has_const and enum is None and allowed is None and kinds == (None,) * 4:
            return None
        if single is None:
            return _general(has_const, const, enum, allowed, kinds)
        own = {"string": string, "array": array, "object": obj}
        body = own.get(single)
        if body is not None:
            return body
        # A keyword of another type never applies to a value of the right type.
        return _typed(single, number if single in ("number", "integer") else None)

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
        specs = {name: _spec(sub, self._leaves.get(sub)) for name, sub in properties.items()}
        get = specs.get

        def check(value: Any, path: Path, report: Report) -> None:
            if typed and not isinstance(value, dict):
                report(path, f"expected object, found {_json_type(value)}")
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


def _searcher(pattern: str) -> Callable[[str], Any]:
    """The ``pattern`` keyword's test: ``re.search``, as JSON Schema says.

    A pattern that starts with ``^`` and has no ``|`` anywhere can only match at the start
    (``^`` cannot be repeated or made optional, and no flag makes it match elsewhere), where
    ``match`` answers the same without trying every other position first.
    """
    compiled = re.compile(pattern)
    if pattern.startswith("^") and "|" not in pattern:
        return compiled.match
    return compiled.search


def _string_check(node: Dict[str, Any], typed: bool) -> Optional[Check]:
    """The check of the string keywords; with ``typed``, of the type ``string`` too."""
    min_length = node.get("minLength")
    max_length = node.get("maxLength")
    text = node.get("pattern")
    if min_length is None and max_length is None and text is None:
        return None
    search = _searcher(text) if text is not None else None

    def check(value: Any, path: Path, report: Report) -> None:
        if typed and not isinstance(value, str):
            report(path, f"expected string, found {_json_type(value)}")
            return
        if min_length is not None and len(value) < min_length:
            report(path, f"must not be shorter than {min_length} characters")
        if max_length is not None and len(value) > max_length:
            report(path, f"must not be longer than {max_length} characters")
        if search is not None and not search(value):
            report(path, f"{value!r} does not match {text}")

    return check


def _number_check(node: Dict[str, Any]) -> Optional[Check]:
    minimum = node.get("minimum")
    above = node.get("exclusiveMinimum")
    if minimum is None and above is None:
        return None

    # Comparisons as jsonschema makes them (so NaN, which compares false, passes both).
    def check(value: Any, path: Path, report: Report) -> None:
        if minimum is not None and value < minimum:
            report(path, f"{value!r} is less than {minimum}")
        if above is not None and value <= above:
            report(path, f"{value!r} is not greater than {above}")

    return check


def _array_check(
    min_items: Optional[int], items: Optional[Check], leaf: Optional[Leaf], typed: bool
) -> Optional[Check]:
    """The check of the array keywords; with ``typed``, of the type ``array`` too."""
    if min_items is None and items is None:
        return None
    if items is not None and leaf is not None:
        kind, shortest, longest, search, choices = leaf
        each = items

        def check_leaves(value: Any, path: Path, report: Report) -> None:
            if typed and not isinstance(value, list):
                report(path, f"expected array, found {_json_type(value)}")
                return
            if min_items is not None and len(value) < min_items:
                report(path, f"needs at least {min_items} item(s)")
            for i, item in enumerate(value):
                if type(item) is not kind or (
                    kind is str
                    and not (
                        shortest <= len(item) <= longest
                        and (search is None or search(item))
                        and (choices is None or item in choices)
                    )
                ):
                    each(item, (path, i), report)

        return check_leaves

    def check(value: Any, path: Path, report: Report) -> None:
        if typed and not isinstance(value, list):
            report(path, f"expected array, found {_json_type(value)}")
            return
        if min_items is not None and len(value) < min_items:
            report(path, f"needs at least {min_items} item(s)")
        if items is not None:
            for i, item in enumerate(value):
                items(item, (path, i), report)

    return check


def _tags(options: List[Any]) -> Optional[Tuple[str, List[str]]]:
    """``(K, [C, ...])`` when every option is ``{"if": <K is the string C>, "then": ...}``."""
    key = None
    consts: List[str] = []
    for option in options:
        if not isinstance(option, dict) or set(option) - _ANNOTATIONS != {"if", "then"}:
            return None
        condition = option["if"]
        if not isinstance(condition, dict) or set(condition) - _ANNOTATIONS != {
            "properties",
            "required",
        }:
            return None
        properties, required = condition["properties"], condition["required"]
        if not isinstance(properties, dict) or len(properties) != 1 or len(required) != 1:
            return None
        name, sub = next(iter(properties.items()))
        if required[0] != name or (key is not None and name != key):
            return None
        if not isinstance(sub, dict) or set(sub) - _ANNOTATIONS != {"const"}:
            return None
        if not isinstance(sub["const"], str) or sub["const"] in consts:
            return None
        key = name
        consts.append(sub["const"])
    return (key, consts) if key is not None else None


def _predicate(node: Any) -> Optional[Callable[[Any], bool]]:
    """A plain test for a small condition schema (``if`` and ``anyOf`` branches), or None.

    Only ``required`` and ``properties`` whose values have nothing but a ``const`` are
    turned into a test: exactly the node's meaning, without the cost of a failing check
    (which raises). Anything else is None, and the compiled check decides.
    """
    if not isinstance(node, dict) or not set(node) - _ANNOTATIONS <= {"required", "properties"}:
        return None
    required = tuple(node.get("required", ()))
    consts = []
    for name, sub in node.get("properties", {}).items():
        if not isinstance(sub, dict) or set(sub) - _ANNOTATIONS != {"const"}:
            return None
        consts.append((name, sub["const"]))

    def test(value: Any) -> bool:
        if not isinstance(value, dict):
            return True  # required and properties apply to objects only
        for name in required:
            if name not in value:
                return False
        for name, const in consts:  # noqa: SIM110 - a loop: no generator on the hot path
            if name in value and not _same(value[name], const):
                return False
        return True

    return test


def _spec(check: Check, leaf: Optional[Leaf]) -> Tuple[Check, Any, Any]:
    """A property's (check, exact type of its leaf or None, string limits or None)."""
    if leaf is None:
        return (check, None, None)
    kind, shortest, longest, search, choices = leaf
    if (shortest, longest, search, choices) == (0, _LONGEST, None, None):
        return (check, kind, None)
    return (check, kind, (shortest, longest, search, choices))


# A JSON type -> the exact Python type of values the inline test accepts (an int is an
# integer and a number; floats and the rest take the check).
_LEAF_TYPES: Dict[str, type] = {
    "array": list,
    "object": dict,
    "boolean": bool,
    "integer": int,
    "number": int,
}
_ANNOTATIONS = {"$schema", "$id", "$defs", "title", "description", "format"}


def _leaf(node: Dict[str, Any]) -> Optional[Leaf]:
    """The inline test of a node's assertions, for the values it is cheap to test, or None.

    Two kinds of nodes have one. A node that accepts strings (its type allows them, or it
    has a string ``enum`` or ``const`` and no type): the test covers every keyword that
    applies to a string (type, enum, const, lengths, pattern); the others apply to other
    types only. And a node that is nothing but one type test (``array``, ``object``,
    ``boolean``). A value the test accepts is valid for the node; any other value goes to
    the node's check. The caller only asks for nodes without ``$ref`` or applicators.
    """
    keywords = set(node) - _ANNOTATIONS
    types = node.get("type")
    allowed = [types] if isinstance(types, str) else types
    enum = node.get("enum")
    has_const = "const" in node
    if allowed is not None and "string" not in allowed:
        kind = _LEAF_TYPES.get(allowed[0]) if len(allowed) == 1 else None
        if kind is None or keywords != {"type"}:
            return None
        return (kind, 0, _LONGEST, None, None)
    if allowed is None and enum is None and not has_const:
        return None  # accepts anything, or has only keywords of other types
    if enum is not None and has_const:
        return None
    choices = [node["const"]] if has_const else enum
    if choices is not None and not all(isinstance(option, str) for option in choices):
        return None
    text = node.get("pattern")
    return (
        str,
        node.get("minLength", 0),
        node.get("maxLength", _LONGEST),
        _searcher(text) if text is not None else None,
        frozenset(choices) if choices is not None else None,
    )


def _general(
    has_const: bool,
    const: Any,
    enum: Optional[List[Any]],
    allowed: Optional[List[str]],
    kinds: Tuple[Optional[Check], Optional[Check], Optional[Check], Optional[Check]],
) -> Check:
    """The check of any node's assertions: ``const``, ``enum``, ``type``, then by kind."""
    on_string, on_number, on_array, on_object = kinds
    type_checks = tuple(_TYPES[t] for t in allowed) if allowed is not None else None
    expected = " or ".join(allowed or ())
    options_text = ""
    enum_set: Optional[FrozenSet[Any]] = None
    if enum is not None:
        options_text = ", ".join("null" if o is None else str(o) for o in enum)
        if all(isinstance(o, str) or o is None for o in enum):
            enum_set = frozenset(enum)
        if enum_set is not None and not has_const and allowed is None and kinds == (None,) * 4:

            def check_enum(value: Any, path: Path, report: Report) -> None:
                if not ((value is None or isinstance(value, str)) and value in enum_set):
                    report(path, f"{value!r} is not one of: {options_text}")

            return check_enum

    def general(value: Any, path: Path, report: Report) -> None:
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
            report(path, f"expected {expected}, found {_json_type(value)}")
            return
        if isinstance(value, str):
            if on_string is not None:
                on_string(value, path, report)
        elif isinstance(value, list):
            if on_array is not None:
                on_array(value, path, report)
        elif isinstance(value, dict):
            if on_object is not None:
                on_object(value, path, report)
        elif on_number is not None and _is_number(value):
            on_number(value, path, report)

    if has_const or enum is not None or allowed is None:
        return general
    # Several types: a value of an exact JSON type goes straight to that type's keywords;
    # any other value (a number, a subclass, a wrong type) takes the general way.
    bodies: Dict[Any, Optional[Check]] = {}
    for name, python_type, body in (
        ("string", str, on_string),
        ("array", list, on_array),
        ("object", dict, on_object),
        ("boolean", bool, None),
        ("null", type(None), None),
    ):
        if name in allowed:
            bodies[python_type] = body
    get = bodies.get

    def check(value: Any, path: Path, report: Report) -> None:
        body = get(type(value), general)
        if body is not None:
            body(value, path, report)

    return check


_PYTHON_TYPES: Dict[str, Any] = {"string": str, "array": list, "object": dict}


def _typed(name: str, body: Optional[Check]) -> Check:
    """The check of a node with one type and no ``const`` or ``enum``: the common case.

    ``body`` holds the keywords of that type, run only on a value of the type.
    """
    python_type = _PYTHON_TYPES.get(name)  # numbers and booleans need the JSON type test
    type_ok = _TYPES[name]
    if python_type is not None and body is None:

        def check_type(value: Any, path: Path, report: Report) -> None:
            if not isinstance(value, python_type):
                report(path, f"expected {name}, found {_json_type(value)}")

        return check_type
    if python_type is not None and body is not None:

        def check(value: Any, path: Path, report: Report) -> None:
            if isinstance(value, python_type):
                body(value, path, report)
            else:
                report(path, f"expected {name}, found {_json_type(value)}")

        return check

    def check_other(value: Any, path: Path, report: Report) -> None:
        if not type_ok(value):
            report(path, f"expected {name}, found {_json_type(value)}")
        elif body is not None:
            body(value, path, report)

    return check_other

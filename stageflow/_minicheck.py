"""The closures :mod:`stageflow._minischema` compiles schema nodes into, and the shortcuts.

Here are the JSON value tests (JSON types, JSON equality), the checks of each type's
keywords, and the analyses of common schema shapes that make valid documents cheap to
check: leaves a parent tests inline, conditions that are plain tests, tagged ``allOf``
unions, and anchored patterns. Every shortcut must accept exactly what the full check
accepts; ``tests/test_schema.py`` compares both with ``jsonschema``. Like
:mod:`stageflow._minischema`, this module is on the CLI's fast path: it imports ``re``
only.
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

LONGEST = 1 << 62
"""No length limit."""


def is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


TYPES: Dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": is_integer,
    "number": is_number,
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def json_type(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if TYPES[name](value):
            return name
    return type(value).__name__


def same(a: Any, b: Any) -> bool:
    """JSON equality: ``True`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def searcher(pattern: str) -> Callable[[str], Any]:
    """The ``pattern`` keyword's test: ``re.search``, as JSON Schema says.

    A pattern that starts with ``^`` and has no ``|`` anywhere can only match at the start
    (``^`` cannot be repeated or made optional, and no flag makes it match elsewhere), where
    ``match`` answers the same without trying every other position first.
    """
    compiled = re.compile(pattern)
    if pattern.startswith("^") and "|" not in pattern:
        return compiled.match
    return compiled.search


def string_check(node: Dict[str, Any], typed: bool) -> Optional[Check]:
    """The check of the string keywords; with ``typed``, of the type ``string`` too."""
    min_length = node.get("minLength")
    max_length = node.get("maxLength")
    text = node.get("pattern")
    if min_length is None and max_length is None and text is None:
        return None
    search = searcher(text) if text is not None else None

    def check(value: Any, path: Path, report: Report) -> None:
        if typed and not isinstance(value, str):
            report(path, f"expected string, found {json_type(value)}")
            return
        if min_length is not None and len(value) < min_length:
            report(path, f"must not be shorter than {min_length} characters")
        if max_length is not None and len(value) > max_length:
            report(path, f"must not be longer than {max_length} characters")
        if search is not None and not search(value):
            report(path, f"{value!r} does not match {text}")

    return check


def number_check(node: Dict[str, Any]) -> Optional[Check]:
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


def array_check(
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
                report(path, f"expected array, found {json_type(value)}")
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
            report(path, f"expected array, found {json_type(value)}")
            return
        if min_items is not None and len(value) < min_items:
            report(path, f"needs at least {min_items} item(s)")
        if items is not None:
            for i, item in enumerate(value):
                items(item, (path, i), report)

    return check


def tags(options: List[Any]) -> Optional[Tuple[str, List[str]]]:
    """``(K, [C, ...])`` when every option is ``{"if": <K is the string C>, "then": ...}``."""
    key = None
    consts: List[str] = []
    for option in options:
        if not isinstance(option, dict) or set(option) - ANNOTATIONS != {"if", "then"}:
            return None
        condition = option["if"]
        if not isinstance(condition, dict) or set(condition) - ANNOTATIONS != {
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
        if not isinstance(sub, dict) or set(sub) - ANNOTATIONS != {"const"}:
            return None
        if not isinstance(sub["const"], str) or sub["const"] in consts:
            return None
        key = name
        consts.append(sub["const"])
    return (key, consts) if key is not None else None


def predicate(node: Any) -> Optional[Callable[[Any], bool]]:
    """A plain test for a small condition schema (``if`` and ``anyOf`` branches), or None.

    Only ``required`` and ``properties`` whose values have nothing but a ``const`` are
    turned into a test: exactly the node's meaning, without the cost of a failing check
    (which raises). Anything else is None, and the compiled check decides.
    """
    if not isinstance(node, dict) or not set(node) - ANNOTATIONS <= {"required", "properties"}:
        return None
    required = tuple(node.get("required", ()))
    consts = []
    for name, sub in node.get("properties", {}).items():
        if not isinstance(sub, dict) or set(sub) - ANNOTATIONS != {"const"}:
            return None
        consts.append((name, sub["const"]))

    def test(value: Any) -> bool:
        if not isinstance(value, dict):
            return True  # required and properties apply to objects only
        for name in required:
            if name not in value:
                return False
        for name, const in consts:  # noqa: SIM110 - a loop: no generator on the hot path
            if name in value and not same(value[name], const):
                return False
        return True

    return test


def property_spec(check: Check, leaf: Optional[Leaf]) -> Tuple[Check, Any, Any]:
    """A property's (check, exact type of its leaf or None, string limits or None)."""
    if leaf is None:
        return (check, None, None)
    kind, shortest, longest, search, choices = leaf
    if (shortest, longest, search, choices) == (0, LONGEST, None, None):
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
ANNOTATIONS = {"$schema", "$id", "$defs", "title", "description", "format"}


def leaf_of(node: Dict[str, Any]) -> Optional[Leaf]:
    """The inline test of a node's assertions, for the values it is cheap to test, or None.

    Two kinds of nodes have one. A node that accepts strings (its type allows them, or it
    has a string ``enum`` or ``const`` and no type): the test covers every keyword that
    applies to a string (type, enum, const, lengths, pattern); the others apply to other
    types only. And a node that is nothing but one type test (``array``, ``object``,
    ``boolean``). A value the test accepts is valid for the node; any other value goes to
    the node's check. The caller only asks for nodes without ``$ref`` or applicators.
    """
    keywords = set(node) - ANNOTATIONS
    types = node.get("type")
    allowed = [types] if isinstance(types, str) else types
    enum = node.get("enum")
    has_const = "const" in node
    if allowed is not None and "string" not in allowed:
        kind = _LEAF_TYPES.get(allowed[0]) if len(allowed) == 1 else None
        if kind is None or keywords != {"type"}:
            return None
        return (kind, 0, LONGEST, None, None)
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
        node.get("maxLength", LONGEST),
        searcher(text) if text is not None else None,
        frozenset(choices) if choices is not None else None,
    )


def general_check(
    has_const: bool,
    const: Any,
    enum: Optional[List[Any]],
    allowed: Optional[List[str]],
    kinds: Tuple[Optional[Check], Optional[Check], Optional[Check], Optional[Check]],
) -> Check:
    """The check of any node's assertions: ``const``, ``enum``, ``type``, then by kind."""
    on_string, on_number, on_array, on_object = kinds
    type_checks = tuple(TYPES[t] for t in allowed) if allowed is not None else None
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
        if has_const and not same(value, const):
            report(path, f"expected {const!r}, found {value!r}")
            return
        if enum is not None:
            if enum_set is not None and not isinstance(value, bool):
                known = (value is None or isinstance(value, str)) and value in enum_set
            else:
                known = any(same(value, option) for option in enum)
            if not known:
                report(path, f"{value!r} is not one of: {options_text}")
                return
        if type_checks is not None and not any(ok(value) for ok in type_checks):
            report(path, f"expected {expected}, found {json_type(value)}")
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
        elif on_number is not None and is_number(value):
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


def typed_check(name: str, body: Optional[Check]) -> Check:
    """The check of a node with one type and no ``const`` or ``enum``: the common case.

    ``body`` holds the keywords of that type, run only on a value of the type.
    """
    python_type = _PYTHON_TYPES.get(name)  # numbers and booleans need the JSON type test
    type_ok = TYPES[name]
    if python_type is not None and body is None:

        def check_type(value: Any, path: Path, report: Report) -> None:
            if not isinstance(value, python_type):
                report(path, f"expected {name}, found {json_type(value)}")

        return check_type
    if python_type is not None and body is not None:

        def check(value: Any, path: Path, report: Report) -> None:
            if isinstance(value, python_type):
                body(value, path, report)
            else:
                report(path, f"expected {name}, found {json_type(value)}")

        return check

    def check_other(value: Any, path: Path, report: Report) -> None:
        if not type_ok(value):
            report(path, f"expected {name}, found {json_type(value)}")
        elif body is not None:
            body(value, path, report)

    return check_other

"""The one module that imports ``jsonschema``: the packaged schemas as compiled validators.

Each schema is compiled once (Draft 2020-12) and reused. Use it to validate documents
outside the engine, for example in an agent that writes run or task files::

    from stageflow.schema import schema_errors

    for pointer, message in schema_errors("run", document):
        print(pointer, message)

The engine's own read path uses :mod:`stageflow._minischema` on the same schema files,
because importing ``jsonschema`` would dominate the CLI's start-up time.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict, List, Tuple

from jsonschema import Draft202012Validator

from ._minischema import pointer_part
from ._resources import SCHEMA_NAMES, load_schema

__all__ = ["SCHEMA_NAMES", "check_schemas", "schema", "schema_errors", "validator"]


def schema(name: str) -> Dict[str, Any]:
    """The packaged schema ``name`` (``"run"``, ...) as a dict; do not mutate it."""
    if name not in SCHEMA_NAMES:
        from .errors import UsageError

        raise UsageError(f"unknown schema {name!r}; known: {', '.join(SCHEMA_NAMES)}")
    return load_schema(name)


@lru_cache(maxsize=None)
def validator(name: str) -> Draft202012Validator:
    """The compiled validator of schema ``name``, built once per process."""
    return Draft202012Validator(schema(name))


def schema_errors(name: str, document: Any) -> List[Tuple[str, str]]:
    """Every schema violation of ``document`` as ``(JSON pointer, message)``.

    Pointers follow RFC 6901 (``""`` is the whole document); the list is in document order
    (``/stages/2`` before ``/stages/10``).
    """
    found = []
    for error in validator(name).iter_errors(document):
        path = list(error.absolute_path)
        pointer = "".join(pointer_part(p) for p in path)
        order = tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in path)
        found.append((order, pointer, error.message))
    found.sort(key=lambda item: (item[0], item[2]))
    return [(pointer, message) for _, pointer, message in found]


def check_schemas() -> None:
    """Check every packaged schema against the Draft 2020-12 meta-schema."""
    for name in SCHEMA_NAMES:
        Draft202012Validator.check_schema(schema(name))

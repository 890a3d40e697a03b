"""Access to the JSON Schemas shipped inside the package.

Schemas live in the top-level ``schemas/`` folder of the source tree and are packaged as
``stageflow/schemas/`` in the wheel. They are read with :mod:`importlib.resources`, except
on the CLI's fast path: importing ``importlib.resources`` costs tens of milliseconds, so
:func:`read_schema_text` first tries the plain file next to the package, which exists in
every installed (non-zip) distribution and in a source checkout.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache

# typing is imported only by type checkers: this module is on the CLI's fast path.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Tuple

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_CANDIDATE_DIRS = (
    os.path.join(_PACKAGE_DIR, "schemas"),  # installed wheel
    os.path.join(os.path.dirname(_PACKAGE_DIR), "schemas"),  # source checkout
)

SCHEMA_NAMES: Tuple[str, ...] = (
    "run",
    "workflow",
    "task",
    "subtask",
    "contexts",
    "story-map",
    "prioritized",
    "contract",
)
"""The schemas stageflow ships, by short name (file ``<name>.schema.json``)."""


def read_schema_text(name: str) -> str:
    """The text of the packaged schema ``name`` (for example ``"run"``)."""
    return _read_packaged("schemas", f"{name}.schema.json", _CANDIDATE_DIRS)


def read_workflow_text(name: str) -> str:
    """The text of the built-in workflow document ``name`` (``stageflow/workflows/``)."""
    return _read_packaged("workflows", f"{name}.json", (os.path.join(_PACKAGE_DIR, "workflows"),))


def _read_packaged(kind: str, filename: str, folders: Tuple[str, ...]) -> str:
    for folder in folders:
        path = os.path.join(folder, filename)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                return handle.read()
    from importlib import resources  # zip imports and other loaders

    if hasattr(resources, "files"):  # Python >= 3.9
        return (resources.files("stageflow") / kind / filename).read_text(encoding="utf-8")
    import pkgutil  # Python 3.8

    data = pkgutil.get_data("stageflow", f"{kind}/{filename}")
    if data is None:
        raise FileNotFoundError(f"stageflow/{kind}/{filename}")
    return data.decode("utf-8")


@lru_cache(maxsize=None)
def load_schema(name: str) -> Dict[str, Any]:
    """The packaged schema ``name`` as a dict (cached; do not mutate)."""
    schema: Dict[str, Any] = json.loads(read_schema_text(name))
    return schema

"""The value a store returns, defined without importing :mod:`typing` (CLI fast path)."""

from __future__ import annotations

import collections

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, NamedTuple

    class StoredRun(NamedTuple):
        """A run document as stored, with its revision and a location for messages."""

        document: Dict[str, Any]
        revision: str
        location: str

else:
    StoredRun = collections.namedtuple("StoredRun", ["document", "revision", "location"])
    StoredRun.__doc__ = "A run document as stored, with its revision and a location for messages."

"""Name patterns shared by the fast CLI path and the library (no heavy imports).

They end in ``\\Z``, not ``$``: Python's ``$`` also matches before a final newline.
"""

from __future__ import annotations

import re

FEATURE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}\Z")
"""Feature names: lowercase letters, digits and '-', starting with a letter or digit, at
most 100 characters (they become file and folder names)."""

SESSION_DIR_PATTERN = re.compile(r"^(\d{4}-\d{2}-\d{2})-([a-z0-9][a-z0-9-]{0,99})\Z")
"""A session folder ``{YYYY-MM-DD}-{feature}``; group 2 is the exact feature name."""


def check_feature(feature: object) -> str:
    """Return ``feature`` if it is a valid feature name, else raise ``InvalidName``."""
    if isinstance(feature, str) and FEATURE_PATTERN.match(feature):
        return feature
    from .errors import InvalidName

    raise InvalidName(
        f"invalid feature name {feature!r}: use up to 100 lowercase letters, digits and '-', "
        "starting with a letter or digit"
    )

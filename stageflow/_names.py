"""Name patterns shared by the fast CLI path and the library (no heavy imports).

They end in ``\\Z``, not ``$``: Python's ``$`` also matches before a final newline.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:  # the CLI's fast path does not import typing
    from typing import Iterable, List

FEATURE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}\Z")
"""Feature names: lowercase letters, digits and '-', starting with a letter or digit, at
most 100 characters (they become file and folder names)."""

SESSION_DIR_PATTERN = re.compile(r"^(\d{4}-\d{2}-\d{2})-([a-z0-9][a-z0-9-]{0,99})\Z")
"""A session folder ``{YYYY-MM-DD}-{feature}``; group 2 is the exact feature name."""


def seq_key(seq: object) -> tuple[int, int, str, str]:
    """The sort key of a subtask seq: numeric strings by value, equal values as strings
    (``"9" < "010" < "10"``), then other strings, then anything else.

    Values are compared as text, never converted to ``int``, so a seq of any length works.
    """
    if not isinstance(seq, str):
        return (2, 0, "", repr(seq))
    if seq.isascii() and seq.isdigit():
        significant = seq.lstrip("0")
        return (0, len(significant), significant, seq)
    return (1, 0, "", seq)


def sorted_seqs(seqs: Iterable[str]) -> List[str]:
    """``seqs`` (strings) sorted by :func:`seq_key`.

    When every seq is a run of ASCII digits of the same length (zero-padded seqs, the usual
    case), plain string order is the same order, so it skips computing a key per seq.
    """
    found = list(seqs)
    if (
        len(set(map(len, found))) <= 1
        and all(map(str.isdigit, found))
        and all(map(str.isascii, found))
    ):
        return sorted(found)
    return sorted(found, key=seq_key)


def check_feature(feature: object) -> str:
    """Return ``feature`` if it is a valid feature name, else raise ``InvalidName``."""
    if isinstance(feature, str) and FEATURE_PATTERN.match(feature):
        return feature
    from .errors import InvalidName

    raise InvalidName(
        f"invalid feature name {feature!r}: use up to 100 lowercase letters, digits and '-', "
        "starting with a letter or digit"
    )

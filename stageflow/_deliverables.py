"""Deliverable paths: which entries name files, and when two of them overlap.

A subtask's ``deliverables`` mix paths (``src/cart.py``, ``migrations/``) and descriptions
(``POST /orders``). :func:`looks_like_path` tells them apart; the content gates check only
the paths on disk, and the planner keeps two parallel subtasks apart only when their paths
overlap.

Two paths overlap when they are the same path, or when one is a folder prefix of the other
(``src/orders/`` and ``src/orders/cart.ts``; not ``src/order`` and ``src/orders/x``), once
both are normalised: ``\\`` read as ``/``, and empty and ``.`` segments dropped (so ``./``,
a trailing ``/`` and ``//`` change nothing). ``..`` is kept as written. An entry that
normalises to nothing (``./``, ``.``) is the project folder itself and overlaps every path.

This module is pure: no I/O, no clock, no module-level mutable state.
"""

from __future__ import annotations

import bisect
from typing import Dict, List, Optional, Tuple

__all__ = ["PathIndex", "looks_like_path", "path_key"]

PathKey = Tuple[str, ...]


def looks_like_path(entry: str) -> bool:
    """The deliverable rule: text with no blank that has a ``/`` or ``\\``, or a ``.`` in
    its last part (``src/cart.py``, ``README.md``, ``.env``), names a file; anything else
    (``POST /orders``, ``OrderService``) is a description and is not checked."""
    if not entry or entry.split() != [entry]:  # empty, or holds a blank
        return False
    return "/" in entry or "\\" in entry or "." in entry


def path_key(entry: str) -> Optional[PathKey]:
    """The normalised segments of a deliverable that names a path, else ``None``.

    ``path_key("./src/orders/")`` is ``("src", "orders")``; ``path_key("POST /orders")`` is
    ``None``.
    """
    if not looks_like_path(entry):
        return None
    parts = entry.replace("\\", "/").split("/")
    if "" in parts or "." in parts:
        return tuple(part for part in parts if part and part != ".")
    return tuple(parts)


class PathIndex:
    """The deliverable paths of one batch, to find an overlap in time linear in a path's
    depth. Each path remembers the first task that added it (``(seq, entry)``)."""

    __slots__ = ("_depths", "_exact", "_folders")

    def __init__(self) -> None:
        self._exact: Dict[PathKey, Tuple[str, str]] = {}
        # Every proper folder prefix of a path added, with the first task under it.
        self._folders: Dict[PathKey, Tuple[str, str]] = {}
        # The depths (numbers of segments) of the paths added, in increasing order: only a
        # prefix of one of these depths can be a path added.
        self._depths: List[int] = []

    def overlap(self, key: PathKey) -> Optional[Tuple[str, str]]:
        """The ``(seq, entry)`` of a path already added that overlaps ``key``, or None:
        the same path first, then a path inside ``key``, then a folder holding ``key``
        (the outermost)."""
        hit = self._exact.get(key) or self._folders.get(key)
        if hit is not None:
            return hit
        exact = self._exact
        for depth in self._depths:
            if depth >= len(key):
                break
            hit = exact.get(key[:depth])
            if hit is not None:
                return hit
        return None

    def add(self, key: PathKey, seq: str, entry: str) -> None:
        """Add the path ``key`` of task ``seq`` (``entry`` as written)."""
        self._exact.setdefault(key, (seq, entry))
        if len(key) not in self._depths:
            bisect.insort(self._depths, len(key))
        folders = self._folders
        for end in range(len(key)):
            folders.setdefault(key[:end], (seq, entry))

"""Inter-process file locks.

:func:`file_lock` takes an exclusive ``flock`` on a lock file. It is re-entrant within a
thread and excludes other threads of the same process as well as other processes. It is a
module of its own so that read-only commands never import :mod:`threading`.
"""

from __future__ import annotations

import contextlib
import os
import threading
from contextlib import contextmanager
from typing import Dict, Iterator, Set

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = ["file_lock"]


class _HeldLock:
    __slots__ = ("depth", "fd", "mutex")

    def __init__(self) -> None:
        self.mutex = threading.RLock()
        self.depth = 0
        self.fd = -1


_held: Dict[str, _HeldLock] = {}
_held_guard = threading.Lock()


@contextmanager
def file_lock(path: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` block."""
    key = os.path.abspath(path)
    with _held_guard:
        held = _held.setdefault(key, _HeldLock())
    with held.mutex:
        if held.depth == 0:
            os.makedirs(os.path.dirname(key), exist_ok=True)
            fd = os.open(key, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
            held.fd = fd
        held.depth += 1
        try:
            yield
        finally:
            held.depth -= 1
            if held.depth == 0:
                fd, held.fd = held.fd, -1
                try:
                    if fcntl is not None:
                        fcntl.flock(fd, fcntl.LOCK_UN)
                finally:
                    os.close(fd)


# Descriptors of the leases this process holds: a forked child closes its copies at once, so
# that pool workers forked during a run never keep a lease alive after their parent.
_leases: Set[int] = set()


def _close_leases_in_child() -> None:
    for fd in _leases:
        with contextlib.suppress(OSError):
            os.close(fd)
    _leases.clear()


if hasattr(os, "register_at_fork"):  # pragma: no branch - POSIX
    os.register_at_fork(after_in_child=_close_leases_in_child)


@contextmanager
def try_file_lock(path: str) -> Iterator[bool]:
    """Try to hold an exclusive lock on ``path`` for the ``with`` block, without waiting.

    Yields whether the lock was taken. Unlike :func:`file_lock` it is not re-entrant: a
    second attempt in the same process fails too, since every attempt opens the file
    anew. The lock dies with its holder's process, and children forked meanwhile do not
    inherit it.
    """
    key = os.path.abspath(path)
    os.makedirs(os.path.dirname(key), exist_ok=True)
    fd = os.open(key, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
    taken = True
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                taken = False
        if taken:
            _leases.add(fd)
        yield taken
    finally:
        _leases.discard(fd)
        try:
            if taken and fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)  # released even if a child kept a copy
        finally:
            os.close(fd)

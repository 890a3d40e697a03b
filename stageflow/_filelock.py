"""Inter-process file locks.

:func:`file_lock` takes an exclusive ``flock`` on a lock file. It is re-entrant within a
thread and excludes other threads of the same process as well as other processes. It is a
module of its own so that read-only commands never import :mod:`threading`.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Dict, Iterator

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


@contextmanager
def try_file_lock(path: str) -> Iterator[bool]:
    """Try to hold an exclusive lock on ``path`` for the ``with`` block, without waiting.

    Yields whether the lock was taken. Unlike :func:`file_lock` it is not re-entrant: a
    second attempt in the same process fails too, since every attempt opens the file
    anew. The lock dies with its holder's process.
    """
    key = os.path.abspath(path)
    os.makedirs(os.path.dirname(key), exist_ok=True)
    fd = os.open(key, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        taken = True
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                taken = False
        yield taken
    finally:
        os.close(fd)  # closing the last descriptor releases the lock

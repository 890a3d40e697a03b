"""Crash-safe file primitives: atomic replacement and inter-process locks.

An atomic write goes to a temporary file in the target's folder, is flushed and fsynced,
replaces the target with :func:`os.replace`, and then the folder is fsynced so that the
rename itself survives a crash. A reader therefore sees the old or the new content, never a
mix, and a killed writer leaves at most a stray ``.*.tmp`` file, never a half-written target.

:func:`file_lock` takes an exclusive ``flock`` on a lock file. It is re-entrant within a
thread and excludes other threads of the same process as well as other processes.
"""

from __future__ import annotations

import contextlib
import os
import threading
from contextlib import contextmanager

# typing is imported only by type checkers: this module is on the CLI's fast path.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Iterator, List

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = ["file_lock", "fsync_dir", "write_atomic"]


def fsync_dir(path: str) -> None:
    """Flush a folder's entries (new names, renames) to disk, where the OS supports it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse
        pass
    finally:
        os.close(fd)


def write_atomic(path: str, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably (creating parent folders)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    # tempfile is not imported on purpose: it drags random, shutil and hashlib into start-up.
    name = f".{os.path.basename(path)}.{os.getpid()}.{os.urandom(6).hex()}.tmp"
    temp = os.path.join(folder, name)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    fsync_dir(folder)


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


def read_bytes(path: str) -> bytes:
    """The whole content of ``path``."""
    with open(path, "rb") as handle:
        return handle.read()


def list_dir(path: str) -> List[str]:
    """Names in folder ``path``, sorted; empty if it does not exist."""
    try:
        return sorted(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return []

"""Crash-safe file primitives: atomic replacement and inter-process locks.

An atomic write goes to a temporary file in the target's folder, is flushed and fsynced,
replaces the target with :func:`os.replace`, and then the folder is fsynced so that the
rename itself survives a crash. A reader therefore sees the old or the new content, never a
mix, and a killed writer leaves at most a stray ``.*.tmp`` file, never a half-written target.

The inter-process lock lives in :mod:`stageflow._filelock`, imported only by writers.
"""

from __future__ import annotations

import os

# typing is imported only by type checkers: this module is on the CLI's fast path.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional


__all__ = ["fsync_dir", "list_dir", "make_dirs", "read_bytes", "write_atomic"]


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


def _current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0)  # elsewhere: set and restore (briefly racy with other threads)
    os.umask(mask)
    return mask


def make_dirs(folder: str) -> None:
    """``os.makedirs`` that also flushes each new folder's entry in its parent to disk."""
    missing = []
    probe = folder
    while not os.path.isdir(probe):
        missing.append(probe)
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    os.makedirs(folder, exist_ok=True)
    for created in reversed(missing):
        fsync_dir(os.path.dirname(created))


def write_atomic(
    path: str, data: bytes, mode: Optional[int] = None, *, durable: bool = True
) -> None:
    """Replace ``path`` with ``data`` atomically and durably (creating parent folders).

    The new file gets permission bits ``mode`` (default: ``0o666`` less the umask).
    ``durable=False`` skips the two fsyncs: for views, which a crash may leave one change
    behind but never half-written.
    """
    folder = os.path.dirname(os.path.abspath(path))
    make_dirs(folder)
    # tempfile is not imported on purpose: it drags random, shutil and hashlib into start-up.
    name = f".{os.path.basename(path)}.{os.getpid()}.{os.urandom(6).hex()}.tmp"
    temp = os.path.join(folder, name)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(temp, (0o666 & ~_current_umask()) if mode is None else mode)
        os.replace(temp, path)
    except BaseException:
        try:  # noqa: SIM105 - contextlib is kept off the fast path
            os.unlink(temp)
        except OSError:
            pass
        raise
    if durable:
        fsync_dir(folder)


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

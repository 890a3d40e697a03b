"""Files store: the ``.tmp/`` layout of the seed tools, written crash-safely.

Layout under the project root::

    .tmp/sessions/{YYYY-MM-DD}-{feature}/stage-tracking.json     the feature's latest run
    .tmp/sessions/{YYYY-MM-DD}-{feature}/context.md              its Stage Progress (a view)
    .tmp/sessions/archive/{feature}/run-{N}/stage-tracking.json  its earlier runs
    .tmp/locks/{feature}.lock                                    the feature's lock

The date is the UTC date the run was created. A session folder belongs to a feature only
when the part after the date equals the feature name exactly (``auth-system`` is never a
session of ``system``). When a new run starts, the feature's previous session folders move
to the archive, whole, so no run is ever overwritten.

Writes are atomic (:func:`stageflow._fileio.write_atomic`); read-modify-write holds the
feature's lock; the revision of a document is a hash of its bytes.
"""

from __future__ import annotations

import json
import os
import re
import zlib

from .._contextmd import update_context
from .._fileio import fsync_dir, list_dir, read_bytes, write_atomic
from .._names import SESSION_DIR_PATTERN, check_feature
from .._rundoc import parse_json_bytes
from ..errors import ConflictError, NotFound, StateFileError
from ._stored import StoredRun

# typing is imported only by type checkers: this module is on the CLI's fast path.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ContextManager, Dict, List, Optional

__all__ = ["TRACKING_FILE", "FileStore"]

TRACKING_FILE = "stage-tracking.json"
_ARCHIVED_RUN = re.compile(r"^run-([0-9]+)\Z")
_READ_ATTEMPTS = 5


def _revision(data: bytes) -> str:
    """A content token: histories only grow, so equal content means the same revision.

    (zlib rather than hashlib keeps OpenSSL off the CLI's start-up path.)
    """
    return f"{len(data):x}-{zlib.crc32(data):08x}{zlib.adler32(data):08x}"


def encode_document(document: Dict[str, Any]) -> bytes:
    """How documents are written: indented UTF-8 JSON with a final newline."""
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


class FileStore:
    """A :class:`~stageflow.storage.RunStore` over a project's ``.tmp/`` folder."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.path.abspath(os.fspath(root))
        self.sessions = os.path.join(self.root, ".tmp", "sessions")
        self.archive = os.path.join(self.sessions, "archive")
        self.locks = os.path.join(self.root, ".tmp", "locks")

    def __repr__(self) -> str:
        return f"FileStore({self.root!r})"

    @staticmethod
    def _check(feature: str) -> None:
        check_feature(feature)

    def relative(self, path: str) -> str:
        """``path`` relative to the project root, for messages."""
        return os.path.relpath(path, self.root)

    def lock(self, feature: str) -> ContextManager[None]:
        """The feature's inter-process lock (re-entrant within a thread)."""
        self._check(feature)
        from .._filelock import file_lock  # writers only: keeps threading off the read path

        return file_lock(os.path.join(self.locks, feature + ".lock"))

    def session_dirs(self, feature: str) -> List[str]:
        """The feature's session folders holding a tracking file, oldest first."""
        self._check(feature)
        found = []
        for name in list_dir(self.sessions):
            match = SESSION_DIR_PATTERN.match(name)
            if match and match.group(2) == feature:
                folder = os.path.join(self.sessions, name)
                if os.path.isfile(os.path.join(folder, TRACKING_FILE)):
                    found.append(folder)
        return found

    def features(self) -> List[str]:
        names = set()
        for name in list_dir(self.sessions):
            match = SESSION_DIR_PATTERN.match(name)
            if match and os.path.isfile(os.path.join(self.sessions, name, TRACKING_FILE)):
                names.add(match.group(2))
        return sorted(names)

    def _archived(self, feature: str) -> Dict[int, str]:
        folder = os.path.join(self.archive, feature)
        found = {}
        for name in list_dir(folder):
            match = _ARCHIVED_RUN.match(name)
            if match and os.path.isfile(os.path.join(folder, name, TRACKING_FILE)):
                found[int(match.group(1))] = os.path.join(folder, name, TRACKING_FILE)
        return found

    def _read_stored(self, path: str) -> StoredRun:
        """The stored run at ``path``; a file that vanished raises ``FileNotFoundError``."""
        location = self.relative(path)
        try:
            data = read_bytes(path)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise StateFileError(location, f"cannot read: {exc.strerror}") from None
        return StoredRun(parse_json_bytes(data, location), _revision(data), location)

    def _read(self, path: str) -> StoredRun:
        try:
            return self._read_stored(path)
        except FileNotFoundError as exc:
            raise StateFileError(self.relative(path), f"cannot read: {exc.strerror}") from None

    def _run_number(self, document: Any, path: str) -> int:
        number = document.get("run") if isinstance(document, dict) else None
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise StateFileError(self.relative(path), "missing or invalid run number")
        return number

    def latest_path(self, feature: str) -> Optional[str]:
        """The tracking file of the feature's latest run, or ``None``."""
        dirs = self.session_dirs(feature)
        return os.path.join(dirs[-1], TRACKING_FILE) if dirs else None

    def latest(self, feature: str) -> Optional[StoredRun]:
        # A new run moves the previous session folder to the archive and then writes its
        # own: a reader in between finds the previous run in the archive, and a reader
        # whose file moved away under it looks again.
        for _ in range(_READ_ATTEMPTS):
            path = self.latest_path(feature)
            if path is None:
                archived = self._archived(feature)
                if not archived:
                    return None
                path = archived[max(archived)]
            try:
                return self._read_stored(path)
            except FileNotFoundError:
                continue
        raise StateFileError(
            f".tmp/sessions/*-{feature}", "the run kept moving while it was read; try again"
        )

    def runs(self, feature: str) -> List[int]:
        numbers = set(self._archived(feature))
        latest = self.latest(feature)
        if latest is not None:
            numbers.add(self._run_number(latest.document, latest.location))
        return sorted(numbers)

    def _path_of(self, feature: str, run: int) -> str:
        # Earlier runs first: a broken latest file must not hide them.
        archived = self._archived(feature).get(run)
        if archived is not None:
            return archived
        latest = self.latest(feature)
        if latest is not None and latest.document.get("run") == run:
            return os.path.join(self.root, latest.location)
        raise NotFound(f"no run {run} of feature {feature!r}", feature)

    def load(self, feature: str, run: int) -> StoredRun:
        path = self._path_of(feature, run)
        return self._read(path)

    def create(self, feature: str, run: int, document: Dict[str, Any]) -> str:
        created = str(document.get("created_at", ""))[:10]
        if not re.match(r"^\d{4}-\d{2}-\d{2}$", created):
            raise StateFileError("<new run>", "created_at must start with a YYYY-MM-DD date")
        with self.lock(feature):
            if run in self.runs(feature):
                raise ConflictError(f"run {run} of {feature!r} already exists")
            for folder in self.session_dirs(feature):
                self._archive_session(feature, folder)
            target = os.path.join(self.sessions, f"{created}-{feature}", TRACKING_FILE)
            data = encode_document(document)
            write_atomic(target, data)
            update_context(os.path.dirname(target), document)
            return _revision(data)

    def _archive_session(self, feature: str, folder: str) -> None:
        """Move a session folder under ``archive/{feature}/``, named after its run."""
        path = os.path.join(folder, TRACKING_FILE)
        try:
            number: Optional[int] = self._run_number(self._read(path).document, path)
        except StateFileError:
            number = None  # not a stageflow run: keep it, under its own name
        base = f"run-{number}" if number is not None else os.path.basename(folder)
        parent = os.path.join(self.archive, feature)
        os.makedirs(parent, exist_ok=True)
        target, suffix = os.path.join(parent, base), 1
        while os.path.exists(target):
            suffix += 1
            target = os.path.join(parent, f"{base}.{suffix}")
        os.rename(folder, target)
        fsync_dir(parent)
        fsync_dir(self.sessions)

    def save(self, feature: str, run: int, document: Dict[str, Any], expected_revision: str) -> str:
        with self.lock(feature):
            path = self._path_of(feature, run)
            if self._read(path).revision != expected_revision:
                raise ConflictError(
                    f"{self.relative(path)} changed since it was read; reload and retry",
                    self.relative(path),
                )
            data = encode_document(document)
            write_atomic(path, data)
            update_context(os.path.dirname(path), document)
            return _revision(data)

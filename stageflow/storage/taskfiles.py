"""The files task store: a project's ``.tmp/tasks/`` folder, in the seed tools' layout.

A feature lives in the first existing folder of ``.tmp/tasks/{feature}/``,
``.tmp/tasks/active/{feature}/`` and ``.tmp/tasks/completed/{feature}/`` (the layouts of
the public task tools; ``active`` and ``completed`` are never features themselves). It
holds ``task.json`` and ``subtask_{seq}.json`` files, ``seq`` being two or more ASCII
digits, so a feature may hold any number of subtasks.

Writes are atomic (temporary file, fsync, ``os.replace``, folder fsync: a reader sees the
old or the new file, never a mix), go to the location that was read -- never to a name
derived from a field inside it -- keep the file's permission bits, and check the revision
that was read: a file changed since then is refused with
:class:`~stageflow.errors.ConflictError`. :meth:`FileTaskStore.lock` is the feature's
inter-process lock (``.tmp/locks/tasks/{feature}.lock``), held by every read-modify-write
of the :class:`~stageflow.tracker.TaskTracker`.

Files are read strictly: a task file that is a symbolic link is not followed (a write would
replace the link, not its target), and a number JSON cannot hold (``NaN``, ``Infinity``,
``1e999``) is a problem of the file, since writing it back would produce a file other JSON
readers refuse. The revision token (length, CRC-32 and Adler-32 of the bytes) detects any
accidental change; it is not a cryptographic digest.

This module imports nothing heavy: ``stageflow task status`` reads through it.
"""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager

from .._fileio import write_atomic
from .._minischema import json_type_phrase
from .._names import FEATURE_PATTERN, check_feature, seq_key
from .._rundoc import parse_json_bytes
from ..errors import ConflictError, InvalidName, NotFound, StateFileError, UsageError
from ._taskdocs import MISSING, TASK_FILE, StoredFeature, StoredFile
from .files import _revision

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ContextManager, Dict, Iterator, List, Mapping, Optional, Tuple, Union

__all__ = [
    "LEGACY_LAYOUTS",
    "SUBTASK_FILE",
    "TASKS_DIR",
    "FileTaskStore",
    "as_dict",
    "candidate_folders",
    "check_file_name",
    "check_task_feature",
    "encode_task",
    "names_for",
    "parse_task_bytes",
    "read_json_object",
    "read_task_file",
    "subtask_file_name",
]

TASKS_DIR = ".tmp/tasks"
"""Where features live, relative to the project root."""

LEGACY_LAYOUTS: Tuple[str, ...] = ("active", "completed")
"""Folders under :data:`TASKS_DIR` that hold features (and are not features themselves)."""

SUBTASK_FILE = re.compile(r"subtask_([0-9]{2,})\.json\Z")
"""The name of a subtask file; group 1 is the seq."""


def candidate_folders(feature: str) -> Tuple[str, ...]:
    """The folders ``feature`` may live in, relative to the root, in the order searched."""
    return (
        f"{TASKS_DIR}/{feature}",
        *(f"{TASKS_DIR}/{layout}/{feature}" for layout in LEGACY_LAYOUTS),
    )


def check_file_name(name: object) -> str:
    """``name`` if it is ``task.json`` or a subtask file name, else :class:`UsageError`.

    Only these names are ever written, so no argument can lead a write out of the feature's
    folder.
    """
    if isinstance(name, str) and (name == TASK_FILE or SUBTASK_FILE.match(name)):
        return name
    raise UsageError(
        f"{name!r} is not a task file name (task.json or subtask_{{seq}}.json, "
        "seq two or more digits)"
    )


def subtask_file_name(seq: str) -> str:
    """``subtask_{seq}.json`` for a seq of two or more digits, else :class:`UsageError`."""
    return check_file_name(f"subtask_{seq}.json")


class _NonFinite(ValueError):
    pass


def _finite(text: str) -> float:
    value = float(text)
    if value - value != 0.0:  # inf or nan
        raise _NonFinite(text)
    return value


def _no_constant(text: str) -> Any:
    raise _NonFinite(text)


# One decoder, made once: json.loads with hooks would build a new one for every file.
_DECODE = json.JSONDecoder(parse_float=_finite, parse_constant=_no_constant).decode

_READ_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)


def _read_bytes(path: str) -> bytes:
    fd = os.open(path, _READ_FLAGS)
    try:
        chunks: List[bytes] = []
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


_PARSE_CODES = (
    ("the file is empty", "json-empty"),
    ("truncated", "json-truncated"),
    ("not UTF-8", "json-encoding"),
    ("not portable JSON", "json-not-portable"),
)


def parse_task_bytes(data: bytes, location: str) -> Any:
    """Parse a task file's bytes strictly; any problem is a :class:`StateFileError`.

    Besides what :func:`~stageflow._rundoc.parse_json_bytes` refuses, a number outside what
    JSON can carry (``NaN``, ``Infinity``, or one too large for a float) is refused.
    """
    try:
        # Decoded first: json.loads(bytes) would also accept UTF-16 and UTF-32.
        return _DECODE(data.decode("utf-8"))
    except _NonFinite as exc:
        raise StateFileError(
            location, f"not portable JSON: the number {exc.args[0]} is not finite"
        ) from None
    except (ValueError, RecursionError):
        return parse_json_bytes(data, location)  # raises with the precise problem


def read_json_object(path: str, location: str) -> Tuple[Any, Optional[bytes], str, str]:
    """Read the JSON object in file ``path``: ``(document, data, code, problem)``.

    On success ``code`` and ``problem`` are empty; otherwise ``document`` is ``None`` and
    ``code`` is one of ``file-missing``, ``file-link`` (a symbolic link, not followed),
    ``file-unreadable``, ``json-empty``, ``json-truncated``, ``json-encoding``,
    ``json-not-portable`` (``NaN``, ``Infinity``), ``json-invalid`` or ``json-not-object``,
    with ``problem`` saying what is wrong (without the location). Never raises.
    """
    try:
        data = _read_bytes(path)
    except FileNotFoundError:
        return None, None, "file-missing", MISSING
    except OSError as exc:
        if os.path.islink(path):
            return None, None, "file-link", "is a symbolic link; task files must be regular files"
        return (
            None,
            None,
            "file-unreadable",
            f"cannot be read ({exc.strerror or type(exc).__name__})",
        )
    try:
        document = parse_task_bytes(data, location)
    except StateFileError as exc:
        code = next((c for start, c in _PARSE_CODES if exc.problem.startswith(start)), None)
        return None, data, code or "json-invalid", exc.problem
    if not isinstance(document, dict):
        problem = f"expected a JSON object, found {json_type_phrase(document)}"
        return None, data, "json-not-object", problem
    return document, data, "", ""


def read_task_file(path: str, name: str, location: str, seq: Optional[str]) -> StoredFile:
    """Read one task file; every problem (missing, a link, unreadable, not JSON, not an
    object) is reported in the result, never raised."""
    document, data, _, problem = read_json_object(path, location)
    revision = None if data is None else _revision(data)
    return StoredFile(name, location, seq, document, problem or None, revision)


def encode_task(document: Mapping[str, Any], indent: Optional[int] = 2) -> bytes:
    """How task files are written: indented UTF-8 JSON with a final newline (``indent=None``:
    compact, on one line, which the C encoder writes several times faster).

    Text that UTF-8 cannot carry (a lone surrogate read from a ``\\udcff`` escape) is
    written as the same escape; a value JSON cannot hold is a :class:`UsageError`.
    """
    if not isinstance(document, dict):
        raise UsageError(f"a task file holds a JSON object, not {type(document).__name__}")
    separators = None if indent is not None else (",", ":")
    try:
        text = json.dumps(
            document, indent=indent, separators=separators, ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise UsageError(f"the document is not portable JSON: {exc}") from None
    try:
        return (text + "\n").encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(document, indent=indent, separators=separators, allow_nan=False)
        return (text + "\n").encode("ascii")


class FileTaskStore:
    """A task store over a project's ``.tmp/tasks/`` folder (see the module docstring)."""

    def __init__(self, root: Union[str, os.PathLike[str]]) -> None:
        self.root = os.path.abspath(os.fspath(root))
        self.tasks = os.path.join(self.root, TASKS_DIR)
        # The real path: two spellings of one root must take the same lock.
        self.locks = os.path.join(os.path.realpath(self.root), ".tmp", "locks", "tasks")

    def __repr__(self) -> str:
        return f"FileTaskStore({self.root!r})"

    # -- where features are ---------------------------------------------------------------

    def folder(self, feature: str) -> str:
        """The feature's folder relative to the root (``/``-separated); ``NotFound`` if none."""
        check_task_feature(feature)
        for rel in candidate_folders(feature):
            if os.path.isdir(os.path.join(self.root, rel)):
                return rel
        searched = ", ".join(candidate_folders(feature))
        raise NotFound(f"feature {feature!r} has no task files: none of {searched} exists", feature)

    def folders(self) -> Dict[str, Tuple[str, ...]]:
        """Every folder under ``.tmp/tasks`` that may hold a feature: name -> its folders
        in layout order. Names that are not valid feature names are included (a validator
        reports them); a missing ``.tmp/tasks`` gives an empty dict."""
        found: Dict[str, List[str]] = {}
        for name in _subdirs(self.tasks):
            if name not in LEGACY_LAYOUTS:
                found.setdefault(name, []).append(f"{TASKS_DIR}/{name}")
        for layout in LEGACY_LAYOUTS:
            for name in _subdirs(os.path.join(self.tasks, layout)):
                found.setdefault(name, []).append(f"{TASKS_DIR}/{layout}/{name}")
        return {name: tuple(rels) for name, rels in sorted(found.items())}

    def feature_folders(self) -> Dict[str, Tuple[str, ...]]:
        """:meth:`folders` of the valid feature names only."""
        return {
            name: rels
            for name, rels in self.folders().items()
            if FEATURE_PATTERN.match(name) and name not in LEGACY_LAYOUTS
        }

    def features(self) -> List[str]:
        """The valid feature names that have a folder, sorted."""
        return list(self.feature_folders())

    # -- reading and writing ---------------------------------------------------------------

    def lock(self, feature: str) -> ContextManager[None]:
        """The feature's inter-process lock (re-entrant within a thread)."""
        check_task_feature(feature)
        from .._filelock import file_lock  # writers only: keeps threading off the read path

        return file_lock(os.path.join(self.locks, feature + ".lock"))

    @contextmanager
    def lease(self, feature: str) -> Iterator[None]:
        """Hold the feature's execution lease (``.tmp/locks/executor/{feature}.lock``) for
        the ``with`` block, or raise :class:`~stageflow.errors.ConflictError` at once when
        another executor holds it. The lease dies with the process that holds it."""
        check_task_feature(feature)
        from .._filelock import try_file_lock

        path = os.path.join(os.path.dirname(self.locks), "executor", feature + ".lock")
        with try_file_lock(path) as taken:
            if not taken:
                raise ConflictError(
                    f"another executor is running feature {feature!r} (it holds {path})",
                    path,
                )
            yield

    def load(self, feature: str) -> StoredFeature:
        """Every task file of ``feature``; ``NotFound`` when it has no folder.

        Subtasks come in seq order of their file names; a file that cannot be used carries
        its problem instead of a document.
        """
        rel = self.folder(feature)
        folder = os.path.join(self.root, rel)
        try:
            names = os.listdir(folder)
        except OSError as exc:
            raise StateFileError(rel, f"the folder cannot be read ({exc.strerror})") from None
        subtasks = []
        for name in names:
            match = SUBTASK_FILE.match(name)
            if match is not None:
                subtasks.append((match.group(1), name))
        subtasks.sort(key=lambda item: seq_key(item[0]))
        task = read_task_file(
            os.path.join(folder, TASK_FILE), TASK_FILE, f"{rel}/{TASK_FILE}", None
        )
        return StoredFeature(
            feature,
            rel,
            task,
            tuple(
                read_task_file(os.path.join(folder, name), name, f"{rel}/{name}", seq)
                for seq, name in subtasks
            ),
        )

    def read(self, feature: str, location: str) -> StoredFile:
        """One task file by its location (``{folder}/{name}``, as :meth:`load` gives it),
        read as :meth:`load` reads it: a missing or unusable file carries its problem."""
        check_task_feature(feature)
        folder, _, name = str(location).rpartition("/")
        check_file_name(name)
        if folder not in candidate_folders(feature):
            raise UsageError(f"{location!r} is not a task file of feature {feature!r}")
        match = SUBTASK_FILE.match(name)
        seq = match.group(1) if match is not None else None
        return read_task_file(os.path.join(self.root, location), name, location, seq)

    def save(
        self,
        feature: str,
        location: str,
        document: Mapping[str, Any],
        expected_revision: Optional[str],
    ) -> str:
        """Write ``document`` to ``location``, a file's location as :meth:`load` returned
        it; return the new revision.

        ``expected_revision`` is the revision that was read (``None``: the file must not
        exist yet). A file changed since then raises :class:`ConflictError`, and so does a
        location that is no longer the feature's folder; nothing is written then.
        """
        check_task_feature(feature)
        folder, _, name = str(location).rpartition("/")
        check_file_name(name)
        if folder not in candidate_folders(feature):
            raise UsageError(f"{location!r} is not a task file of feature {feature!r}")
        data = encode_task(document)
        with self.lock(feature):
            if self.folder(feature) != folder:
                raise ConflictError(
                    f"{location}: the feature moved to {self.folder(feature)} since it was read",
                    location,
                )
            path = os.path.join(self.root, location)
            current = read_task_file(path, name, location, None)
            if current.revision != expected_revision:
                raise ConflictError(
                    f"{location} changed since it was read; reload and retry", location
                )
            try:
                mode: Optional[int] = os.stat(path).st_mode & 0o7777
            except OSError:
                mode = None
            write_atomic(path, data, mode)
            return _revision(data)

    def create(
        self,
        feature: str,
        task: Mapping[str, Any],
        subtasks: Mapping[str, Mapping[str, Any]],
        *,
        layout: Optional[str] = None,
    ) -> None:
        """Create a new feature in ``.tmp/tasks/{feature}/``: ``task.json`` and one file
        per ``seq -> subtask`` of ``subtasks``. Refused (:class:`ConflictError`) when the
        feature already has a folder in any layout.

        ``layout`` (one of :data:`LEGACY_LAYOUTS`) creates it in
        ``.tmp/tasks/{layout}/{feature}/`` instead (:func:`stageflow.storage.copy.copy_stores`
        keeps a feature where it was)."""
        check_task_feature(feature)
        if layout is not None and layout not in LEGACY_LAYOUTS:
            raise UsageError(f"{layout!r} is not a task layout ({', '.join(LEGACY_LAYOUTS)})")
        names = names_for(subtasks)
        encoded = {seq: encode_task(as_dict(sub)) for seq, sub in subtasks.items()}
        task_data = encode_task(as_dict(task))
        with self.lock(feature):
            existing = [
                r for r in candidate_folders(feature) if os.path.exists(os.path.join(self.root, r))
            ]
            if existing:
                raise ConflictError(f"feature {feature!r} already exists: {existing[0]}", feature)
            parts = (layout, feature) if layout is not None else (feature,)
            folder = os.path.join(self.root, TASKS_DIR, *parts)
            # Subtasks first, task.json last: a feature whose task.json exists is whole.
            for seq, data in encoded.items():
                write_atomic(os.path.join(folder, names[seq]), data)
            write_atomic(os.path.join(folder, TASK_FILE), task_data)


def as_dict(document: Any) -> Any:
    """A mapping as a dict; anything else as it is (for :func:`encode_task` to refuse)."""
    return dict(document) if hasattr(document, "keys") else document


def names_for(subtasks: Mapping[str, Mapping[str, Any]]) -> Dict[str, str]:
    """seq -> file name of new subtasks (:meth:`FileTaskStore.create`); a document whose
    ``seq`` says otherwise is refused."""
    names = {}
    for seq, subtask in subtasks.items():
        names[seq] = subtask_file_name(seq)
        inside = subtask.get("seq") if isinstance(subtask, dict) else None
        if inside is not None and inside != seq:
            raise UsageError(f"subtask {seq!r} has seq {inside!r} inside: they must agree")
    return names


def check_task_feature(feature: object) -> str:
    """``feature`` if it names a feature (not the layout folders ``active``/``completed``)."""
    check_feature(feature)
    if feature in LEGACY_LAYOUTS:
        raise InvalidName(f"{feature!r} is a layout folder, not a feature")
    return str(feature)


def _subdirs(path: str) -> List[str]:
    try:
        with os.scandir(path) as entries:
            return sorted(e.name for e in entries if e.is_dir())
    except OSError:
        return []

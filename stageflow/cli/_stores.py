"""Which store a command uses: ``--store URL``, else ``$STAGEFLOW_STORE``, else the files
store under ``--root``.

A command opens its store once (:func:`stores`, kept on the namespace) and ``main``
closes it when the command ends. Without a URL, :func:`run_store` and :func:`task_store`
build the files stores under the root directly, as they always did: the read-only commands
stay on their fast path. Imports nothing heavy.
"""

from __future__ import annotations

import argparse
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional, Tuple

    from ..storage import RunStore, Stores, TaskStore

ENV_VAR = "STAGEFLOW_STORE"
"""The environment variable a store URL is read from when ``--store`` is not given."""

_OPENED = "opened_stores"


def add_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--store URL`` to a command that reads or writes runs or task files."""
    parser.add_argument(
        "--store",
        metavar="URL",
        help=f"where runs and task files are kept (default: ${ENV_VAR}, else the files "
        "store under the project root); files:///path, files, memory:",
    )


def store_url(ns: argparse.Namespace) -> Tuple[Optional[str], str]:
    """The store URL the command is given and where it came from (``--store`` or
    ``STAGEFLOW_STORE``); ``(None, "")`` for the files store under the root."""
    url = getattr(ns, "store", None)
    if url is not None:
        return url, "--store"
    env = os.environ.get(ENV_VAR)
    return (env, ENV_VAR) if env else (None, "")


def open_url(url: str, root: str, given: str) -> Stores:
    """Open the stores of ``url`` (``files`` meaning the files store under ``root``).

    Any problem is a :class:`UsageError` (exit 2) naming ``given`` (where the URL came
    from) and the URL without its password: an unknown scheme, a backend that cannot be
    opened (a missing driver, a refused connection), or a files store whose folder does
    not exist (a typo must not create a new project).
    """
    from ..errors import StageflowError, UsageError
    from ..storage import open_stores
    from ..storage._url import redact, redact_text

    shown = redact(url)
    try:
        opened = open_stores(url, root)
    except StageflowError as exc:
        raise UsageError(f"{given}: {redact_text(exc.message, url)}") from None
    except Exception as exc:  # a backend's own error: still exit 2 and a clear message
        detail = redact_text(f"{type(exc).__name__}: {exc}", url)
        raise UsageError(f"{given}: cannot open store {shown!r} ({detail})") from None
    from ..storage.files import FileStore

    if isinstance(opened.runs, FileStore) and not os.path.isdir(opened.runs.root):
        opened.close()
        raise UsageError(
            f"{given}: store {shown!r} names {opened.runs.root!r}, which is not an existing folder"
        )
    return opened


def stores(ns: argparse.Namespace) -> Stores:
    """The command's stores, opened once; ``main`` closes them."""
    opened: Optional[Stores] = getattr(ns, _OPENED, None)
    if opened is None:
        url, given = store_url(ns)
        opened = open_url(url or "files", str(ns.root), given or "--root")
        setattr(ns, _OPENED, opened)
    return opened


def run_store(ns: argparse.Namespace) -> RunStore:
    """The run store of the command."""
    if store_url(ns)[0] is None and getattr(ns, _OPENED, None) is None:
        from ..storage.files import FileStore  # the fast path: only the run store

        return FileStore(ns.root)
    return stores(ns).runs


def task_store(ns: argparse.Namespace) -> TaskStore:
    """The task store of the command."""
    if store_url(ns)[0] is None and getattr(ns, _OPENED, None) is None:
        from ..storage.taskfiles import FileTaskStore  # the fast path: only the task store

        return FileTaskStore(ns.root)
    return stores(ns).tasks


def where(ns: argparse.Namespace) -> str:
    """How messages name the task store: ``.tmp/tasks`` by default, else its URL."""
    from ..storage._url import redact

    url = store_url(ns)[0]
    return ".tmp/tasks" if url is None else redact(url)


def close(ns: object) -> None:
    """Close the stores a command opened (if it opened any)."""
    opened: Optional[Stores] = getattr(ns, _OPENED, None)
    if opened is not None:
        setattr(ns, _OPENED, None)
        opened.close()

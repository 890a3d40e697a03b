"""Store URLs in messages: what may be shown of one.

A database URL may carry a password (``postgresql://user:secret@host/db``); every message,
``--json`` document and report names a store by :func:`redact` of its URL, never the URL
itself. Imports nothing (the CLI's start-up path).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._stores import Stores

__all__ = ["redact", "redact_text", "shown"]


def redact(url: str) -> str:
    """``url`` with the password of its user part replaced by ``***``.

    ``postgresql://ann:secret@db/x`` becomes ``postgresql://ann:***@db/x``; a URL without a
    password (``files:///srv/p``, ``memory:``, ``sqlite:///x.db``) is returned unchanged.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if not at:
        return url
    user, colon, _ = userinfo.partition(":")
    if not colon:
        return url
    return f"{scheme}://{user}:***@{host}{slash}{path}"


def redact_text(text: str, url: str) -> str:
    """``text`` with every occurrence of ``url`` (and of its password) redacted."""
    shown = redact(url)
    if shown == url:
        return text
    text = text.replace(url, shown)
    password = url.partition("://")[2].partition("/")[0].rpartition("@")[0].partition(":")[2]
    return text.replace(password, "***") if password else text


def shown(stores: Stores) -> str:
    """How messages name opened stores: their URL without its password, and the files
    store under a root (URL ``files``) as ``files://`` and its folder."""
    if stores.url == "files":
        root = getattr(stores.runs, "root", None)
        if isinstance(root, str):
            return f"files://{root}"
    return redact(stores.url)

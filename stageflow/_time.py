"""Timestamps as stageflow writes them: ISO 8601 in UTC with a ``Z``.

A module of its own so that code writing task files does not import cattrs.
"""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["SystemClock", "format_timestamp", "parse_timestamp"]


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``; microseconds only when non-zero."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    # isoformat() omits a zero fraction and is much faster than strftime().
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat() + "Z"


def parse_timestamp(text: str) -> datetime:
    """Parse a timestamp written by :func:`format_timestamp` (any 0-6 fraction digits)."""
    body = text[:-1] if text.endswith("Z") else text
    if "." in body:
        whole, fraction = body.split(".", 1)
        body = f"{whole}.{fraction.ljust(6, '0')}"
    return datetime.fromisoformat(body).replace(tzinfo=timezone.utc)


class SystemClock:
    """The real UTC clock (``stageflow.SystemClock``): here, apart from the engine, so that
    the task tracker can use it without importing the engine."""

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(timezone.utc)

"""The one module that imports ``cattrs``: run documents to values and back.

Structuring is strict (``forbid_extra_keys``) and only ever runs on documents that already
passed :func:`stageflow._rundoc.check_run_document`, because cattrs on its own is lenient
(it would turn ``1`` into ``"1"``).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Dict

import cattrs
from cattrs.gen import make_dict_unstructure_fn, override

from ._rundoc import FORMAT_VERSION, check_run_document
from ._time import format_timestamp, parse_timestamp
from .errors import StateFileError
from .findings import Severity
from .review import IssueSeverity
from .run import Event, Outcome, PhaseRecord, RunState, RunStatus, StageRecord, StageStatus

__all__ = ["format_timestamp", "parse_timestamp", "run_from_document", "run_to_document"]


def _enum_value(member: enum.Enum) -> Any:
    return member.value


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_unstructure_hook(datetime, format_timestamp)
    # str-based enums would otherwise pass through as members (cattrs' str hook wins).
    for enum_type in (RunStatus, StageStatus, Outcome, Severity, IssueSeverity):
        converter.register_unstructure_hook(enum_type, _enum_value)
    converter.register_structure_hook(datetime, lambda value, _: parse_timestamp(value))
    # Fields added with phases are left out while at their defaults, so a run of a workflow
    # without phases is written exactly as before, and older documents (without them) read.
    for cls, names in _OPTIONAL_FIELDS:
        omitted = {name: override(omit_if_default=True) for name in names}
        converter.register_unstructure_hook(
            cls,
            make_dict_unstructure_fn(cls, converter, **omitted),  # type: ignore[arg-type]
        )
    return converter


# Inner classes first: a generated hook binds the hooks of its fields' types when made.
_OPTIONAL_FIELDS = (
    (Event, ("phase", "summary", "plan_file", "skip", "task", "approvals", "review")),
    (PhaseRecord, ("approval", "feedback", "attempts", "review")),
    (StageRecord, ("summary", "phases", "approval", "feedback")),
    (RunState, ("plan_file", "task", "stop_request", "stopped_at")),
)


_converter = _make_converter()


def run_to_document(run: RunState) -> Dict[str, Any]:
    """The JSON-ready document of ``run`` (format version 1)."""
    body: Dict[str, Any] = _converter.unstructure(run)
    return {"version": FORMAT_VERSION, **body}


def run_from_document(document: Any, location: str, *, bounded: bool = False) -> RunState:
    """Check ``document`` strictly and turn it into a :class:`RunState`.

    Any problem raises :class:`StateFileError` naming ``location``. ``bounded``: the
    history may start after event 1 (a store with ``history_limit`` archived the rest).
    """
    checked = dict(check_run_document(document, location, bounded=bounded))
    checked.pop("version")
    try:
        return _converter.structure(checked, RunState)
    except cattrs.BaseValidationError as exc:
        details = "; ".join(cattrs.transform_error(exc)) or str(exc)
        raise StateFileError(location, f"invalid run document: {details}") from None
    except (ValueError, TypeError) as exc:
        raise StateFileError(location, f"invalid run document: {exc}") from None

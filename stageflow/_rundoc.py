"""Reading and checking run documents (``stage-tracking.json``) as plain JSON.

This is the strict edge every stored run passes through before anything uses it: bytes
to JSON, the format version, the packaged ``run`` schema, then the consistency rules a
schema cannot express. It imports nothing heavy so that read-only commands stay fast;
:mod:`stageflow.serde` turns a checked document into :class:`~stageflow.run.RunState`.
"""

from __future__ import annotations

import json
import re

from ._minischema import MiniSchema
from ._resources import load_schema
from .errors import StateFileError

# typing is imported only by type checkers: this module is on the CLI's fast path.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

FORMAT_VERSION = 1

_checker: Optional[MiniSchema] = None


def _schema_checker() -> MiniSchema:
    global _checker
    if _checker is None:
        _checker = MiniSchema(load_schema("run"))
    return _checker


def parse_json_bytes(data: bytes, location: str) -> Any:
    """Decode and parse ``data``; any problem is a :class:`StateFileError` naming ``location``."""
    if not data.strip():
        raise StateFileError(location, "the file is empty")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data":  # cut inside a multi-byte character
            raise StateFileError(location, "truncated JSON: ends inside a character") from None
        raise StateFileError(location, f"not UTF-8 text (byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        truncated = _looks_truncated(text, exc)
        what = "truncated JSON" if truncated else "not valid JSON"
        raise StateFileError(
            location, f"{what}: {_strip_at(exc.msg)} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise StateFileError(location, "not valid JSON: nested too deeply") from None


def check_before_write(document: Dict[str, Any], location: str, new_events: int = 1) -> None:
    """Refuse to write a document the reader would refuse.

    Only what an operation can change is checked (the header, the stages and the
    ``new_events`` newest events): earlier events were checked when they were read or written.
    """
    shallow = dict(document)
    shallow["history"] = document["history"][-new_events:]
    problems = _schema_checker().errors(shallow, limit=5)
    if not problems:  # and what the schema cannot say (the history's numbering aside)
        problems = _consistency_problems(shallow, whole_history=False)
    if problems:
        raise StateFileError(
            location, "refusing to write an invalid run document: " + "; ".join(problems)
        )


def _strip_at(message: str) -> str:
    """``"Unterminated string starting at"`` without its dangling ``at``."""
    return message[: -len(" at")] if message.endswith(" at") else message


def _looks_truncated(text: str, exc: json.JSONDecodeError) -> bool:
    """True if the parse failed because the text stops early (a half-written file)."""
    if exc.msg.startswith("Unterminated string"):
        return True
    rest = text[exc.pos :]
    # Nothing left, or only an unfinished last token such as `nul`, `tru` or `12.`.
    return not rest.strip() or re.fullmatch(r"\s*[\w.+-]+\s*", rest) is not None


def check_run_document(document: Any, location: str, *, bounded: bool = False) -> Dict[str, Any]:
    """Return ``document`` if it is a valid run document, else raise :class:`StateFileError`.

    ``bounded``: the document comes from a store that archives old history events
    (``history_limit``), so its history may start after event 1; it must still be
    numbered without gaps.
    """
    if not isinstance(document, dict):
        raise StateFileError(location, f"expected a JSON object, found {type(document).__name__}")
    version = document.get("version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        if "version" not in document:
            hint = (
                " (it looks like a stage-cli tracking file)"
                if "workflow_status" in document
                else ""
            )
            raise StateFileError(location, f"no format version{hint}; expected version 1")
        raise StateFileError(
            location,
            f"unknown format version {version!r}; this stageflow reads version {FORMAT_VERSION}",
        )
    problems = _schema_checker().errors(document, limit=5)
    if not problems:
        problems = _consistency_problems(document, bounded)
    if problems:
        raise StateFileError(location, "invalid run document: " + "; ".join(problems))
    return document


def _bad_timestamps(doc: Dict[str, Any]) -> List[str]:
    """Timestamps that match the pattern but are not real moments (``2026-13-45T99:...``)."""
    found = []

    def check(value: Any, pointer: str) -> None:
        if isinstance(value, str) and not _real_moment(value):
            found.append(f"{pointer}: {value!r} is not a valid date and time")

    for name in ("created_at", "updated_at", "ended_at"):
        check(doc[name], "/" + name)
    for i, stage in enumerate(doc["stages"]):
        for name in ("started_at", "completed_at", "failed_at"):
            check(stage[name], f"/stages/{i}/{name}")
    for i, event in enumerate(doc["history"]):
        check(event["at"], f"/history/{i}/at")
        if event["override"] is not None:
            check(event["override"]["at"], f"/history/{i}/override/at")
    for i, stage in enumerate(doc["stages"]):
        for j, phase in enumerate(stage.get("phases", ())):
            for name in ("started_at", "completed_at", "failed_at"):
                check(phase[name], f"/stages/{i}/phases/{j}/{name}")
        for j, given in enumerate(stage.get("feedback", ())):
            check(given["at"], f"/stages/{i}/feedback/{j}/at")
    return found


_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _real_moment(text: str) -> bool:
    """Whether ``YYYY-MM-DDTHH:MM:SS...`` (already matching the schema's pattern) names a
    real calendar day and clock time. Plain arithmetic: importing datetime costs start-up."""
    year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
    hour, minute, second = int(text[11:13]), int(text[14:16]), int(text[17:19])
    if not (year >= 1 and 1 <= month <= 12 and hour < 24 and minute < 60 and second < 60):
        return False
    leap = month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return 1 <= day <= _DAYS[month - 1] + leap


def _consistency_problems(
    doc: Dict[str, Any], bounded: bool = False, whole_history: bool = True
) -> List[str]:
    """Rules a schema cannot express: real dates, numbering, references between fields.

    ``bounded``: the history may start after event 1 (a store archived the older ones);
    ``whole_history=False``: ``doc`` holds only its newest events (a write's check), whose
    numbering is not checked.
    """
    problems: List[str] = _bad_timestamps(doc)
    keys = [stage["key"] for stage in doc["stages"]]
    if len(set(keys)) != len(keys):
        problems.append("/stages: duplicate stage keys")
    for i, stage in enumerate(doc["stages"], start=1):
        if stage["number"] != i:
            problems.append(f"/stages/{i - 1}/number: expected {i}, found {stage['number']}")
    current = doc["current_stage"]
    if current is not None and current not in keys:
        problems.append(f"/current_stage: {current!r} is not a stage of this run")
    if (current is None) != (doc["status"] == "completed"):
        problems.append("/current_stage: must be null exactly when the run is completed")
    all_completed = all(s["status"] in ("completed", "skipped") for s in doc["stages"])
    if all_completed != (doc["status"] == "completed"):
        problems.append(
            "/status: a run is completed exactly when every stage is completed or skipped"
        )
    if current in keys and doc["stages"][keys.index(current)]["status"] == "skipped":
        problems.append(f"/current_stage: {current!r} is skipped in this run")
    # One stage, or one phase of it, waits: that of the current stage of a run that waits
    # (or was aborted waiting).
    waiting = [s["key"] for s in doc["stages"] if s["status"] == "awaiting_approval"]
    waiting += [
        s["key"]
        for s in doc["stages"]
        for p in s.get("phases", ())
        if p["status"] == "awaiting_approval"
    ]
    if (doc["status"] == "awaiting_approval" and waiting != [current]) or (
        waiting and (waiting != [current] or doc["status"] not in ("awaiting_approval", "aborted"))
    ):
        problems.append(
            "/status: a run is awaiting_approval exactly when its current stage, or one phase "
            "of it, and nothing else is (an aborted run keeps their status)"
        )
    in_progress = [s["key"] for s in doc["stages"] if s["status"] == "in_progress"]
    if len(in_progress) > 1:
        problems.append(f"/stages: more than one stage in progress ({', '.join(in_progress)})")
    history = doc["history"]
    if not whole_history:
        return problems
    first = history[0]["seq"] if bounded and history[0]["seq"] > 1 else 1
    if first == 1 and history[0]["operation"] != "init":
        problems.append("/history/0/operation: a history starts with 'init'")
    for i, event in enumerate(history, start=first):
        if event["seq"] != i:
            problems.append(f"/history/{i - first}/seq: expected {i}, found {event['seq']}")
            break
    return problems

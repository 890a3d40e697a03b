"""RICE and WSJF prioritization scores: compute them, and check stored score blocks.

A task (``task.json``) and a prioritized backlog (``prioritized.json``) may carry two score
blocks, as in the public enhanced task schema:

- ``rice_score``: ``{reach, impact, confidence, effort, score?}`` with reach > 0, impact
  0.25-3, confidence 0-100 (a percentage) and effort > 0 (person-months);
  score = reach * impact * confidence / 100 / effort.
- ``wsjf_score``: ``{business_value, time_criticality, risk_reduction, job_size, score?}``
  with each input 1-10; score = (business_value + time_criticality + risk_reduction) /
  job_size.

Bounds are inclusive. A stored ``score`` is optional; when present it must equal the
computed score within :data:`TOLERANCE` (0.01, inclusive), plus 1e-12 of the score for
binary floating-point rounding: so 1.99 matches 2, and a huge score computed in another
order of operations still matches. Other keys of a block, such as ``justification``, are
left alone.

:func:`check_rice` and :func:`check_wsjf` take the block as parsed JSON, which may be
anything, and return *every* problem as a :class:`~stageflow.findings.Finding`; they never
raise. Their codes are stable: ``<kind>-type`` (not an object, or a value that is not a
finite JSON number; a boolean is not a number), ``<kind>-missing`` (a required input is
absent), ``rice-reach``, ``rice-impact``, ``rice-confidence``, ``rice-effort`` and
``wsjf-range`` (an input out of its range), ``rice-overflow`` (valid inputs whose score is
too large for a float) and ``<kind>-score-mismatch``, where ``<kind>`` is ``rice`` or
``wsjf``. :func:`rice_score` and :func:`wsjf_score` compute a score and raise
:class:`~stageflow.errors.UsageError` for inputs that break these rules.

This module is pure: no I/O, no clock, no module-level mutable state.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Tuple, Union

from .errors import UsageError
from .findings import Finding

__all__ = [
    "RICE_CODES",
    "RICE_FIELDS",
    "TOLERANCE",
    "WSJF_CODES",
    "WSJF_FIELDS",
    "check_rice",
    "check_wsjf",
    "rice_score",
    "wsjf_score",
]

TOLERANCE = 0.01
"""How far a stored score may be from the computed one (inclusive)."""

_RELATIVE_SLACK = 1e-12

Number = Union[int, float]


class _Input(NamedTuple):
    """One input of a score: its key, its range check, and how to explain it."""

    name: str
    code: str
    accepts: Callable[[Number], bool]
    rule: str
    hint: str


_RICE_INPUTS: Tuple[_Input, ...] = (
    _Input(
        "reach",
        "rice-reach",
        lambda v: v > 0,
        "> 0",
        "a number > 0 (people or events reached per period)",
    ),
    _Input(
        "impact",
        "rice-impact",
        lambda v: 0.25 <= v <= 3,
        "0.25-3",
        "3 (massive), 2 (high), 1 (medium), 0.5 (low) or 0.25 (minimal)",
    ),
    _Input(
        "confidence",
        "rice-confidence",
        lambda v: 0 <= v <= 100,
        "0-100",
        "a percentage from 0 to 100, such as 80 for 80%",
    ),
    _Input(
        "effort",
        "rice-effort",
        lambda v: v > 0,
        "> 0",
        "a number > 0 (person-months of work)",
    ),
)


def _wsjf_input(name: str) -> _Input:
    return _Input(name, "wsjf-range", lambda v: 1 <= v <= 10, "1-10", "a number from 1 to 10")


_WSJF_INPUTS: Tuple[_Input, ...] = tuple(
    _wsjf_input(name)
    for name in ("business_value", "time_criticality", "risk_reduction", "job_size")
)

RICE_FIELDS: Tuple[str, ...] = tuple(i.name for i in _RICE_INPUTS)
"""The required inputs of a RICE block, in order."""

WSJF_FIELDS: Tuple[str, ...] = tuple(i.name for i in _WSJF_INPUTS)
"""The required inputs of a WSJF block, in order."""

RICE_CODES: Tuple[str, ...] = (
    "rice-type",
    "rice-missing",
    "rice-reach",
    "rice-impact",
    "rice-confidence",
    "rice-effort",
    "rice-overflow",
    "rice-score-mismatch",
)
"""Every finding code :func:`check_rice` may return."""

WSJF_CODES: Tuple[str, ...] = ("wsjf-type", "wsjf-missing", "wsjf-range", "wsjf-score-mismatch")
"""Every finding code :func:`check_wsjf` may return."""


def _rice_formula(v: Mapping[str, Number]) -> float:
    return float(v["reach"]) * v["impact"] * v["confidence"] / 100 / v["effort"]


def _wsjf_formula(v: Mapping[str, Number]) -> float:
    total = float(v["business_value"]) + v["time_criticality"] + v["risk_reduction"]
    return total / v["job_size"]


class _Kind(NamedTuple):
    """A score family: its name, inputs, formula, and how to show the formula."""

    prefix: str
    label: str
    inputs: Tuple[_Input, ...]
    formula: Callable[[Mapping[str, Number]], float]
    formula_text: str
    formula_values: str


_RICE = _Kind(
    "rice",
    "RICE",
    _RICE_INPUTS,
    _rice_formula,
    "reach * impact * confidence / 100 / effort",
    "{reach} * {impact} * {confidence} / 100 / {effort}",
)
_WSJF = _Kind(
    "wsjf",
    "WSJF",
    _WSJF_INPUTS,
    _wsjf_formula,
    "(business_value + time_criticality + risk_reduction) / job_size",
    "({business_value} + {time_criticality} + {risk_reduction}) / {job_size}",
)


def _is_number(value: object) -> bool:
    """A finite JSON number: an int or float, not a bool, NaN or infinity."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return not isinstance(value, float) or math.isfinite(value)


def _to_float(value: Number) -> Optional[float]:
    """``value`` as a finite float, or None when it is too large for one."""
    try:
        result = float(value)
    except OverflowError:
        return None
    return result if math.isfinite(result) else None


def _show(value: object, limit: int = 40) -> str:
    """``value`` as it would be written in JSON, shortened to about ``limit`` characters."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, str):
        text = "the string " + json.dumps(value, ensure_ascii=False)
    elif isinstance(value, float):
        text = json.dumps(value)  # NaN and Infinity as Python's json module writes them
    elif isinstance(value, int):
        if value.bit_length() > 3000:  # too long to print, and to convert on Python >= 3.11
            return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
        text = str(int(value))
    else:
        return f"a value of type {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fmt(value: float) -> str:
    """A score for people: at most two decimals, or full precision when very large."""
    if abs(value) >= 1e12:
        return repr(value)
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _within(given: Number, computed: float, tolerance: float) -> bool:
    given_float = _to_float(given)
    if given_float is None:
        return False
    slack = _RELATIVE_SLACK * max(1.0, abs(computed))
    return abs(given_float - computed) <= tolerance + slack


def _check(
    kind: _Kind,
    block: object,
    pointer: str,
    path: Optional[str],
    tolerance: float,
) -> Tuple[Tuple[Finding, ...], Optional[float]]:
    """Every finding about ``block``, and the computed score when its inputs allow one."""
    label = kind.label

    def finding(code: str, message: str, where: str, recommendation: str) -> Finding:
        return Finding(code, message, path=path, pointer=where, recommendation=recommendation)

    if not isinstance(block, Mapping):
        fields = ", ".join(i.name for i in kind.inputs)
        return (
            finding(
                f"{kind.prefix}-type",
                f"a {label} score block must be an object, got {_show(block)}",
                pointer,
                f"write an object with {fields} and, optionally, score",
            ),
        ), None

    found: List[Finding] = []
    values: Dict[str, Number] = {}
    for spec in kind.inputs:
        where = f"{pointer}/{spec.name}"
        if spec.name not in block:
            found.append(
                finding(
                    f"{kind.prefix}-missing",
                    f"{label} {spec.name} is missing",
                    where,
                    f"add {spec.name}: {spec.hint}",
                )
            )
            continue
        value = block[spec.name]
        if not _is_number(value):
            found.append(
                finding(
                    f"{kind.prefix}-type",
                    f"{label} {spec.name} must be a finite number, got {_show(value)}",
                    where,
                    f"write {spec.name} as a JSON number: {spec.hint}",
                )
            )
        elif not spec.accepts(value):
            found.append(
                finding(
                    spec.code,
                    f"{label} {spec.name} must be {spec.rule}, got {_show(value)}",
                    where,
                    f"set {spec.name} to {spec.hint}",
                )
            )
        else:
            values[spec.name] = value

    given: Optional[Number] = None
    if "score" in block:
        score = block["score"]
        if _is_number(score):
            given = score
        else:
            found.append(
                finding(
                    f"{kind.prefix}-type",
                    f"{label} score must be a finite number, got {_show(score)}",
                    f"{pointer}/score",
                    f"set score to {kind.formula_text}, or leave it out",
                )
            )

    if len(values) < len(kind.inputs):
        return tuple(found), None
    shown = kind.formula_values.format(**{k: _show(v) for k, v in values.items()})
    computed = _compute(kind, values)
    if computed is None:
        found.append(
            finding(
                f"{kind.prefix}-overflow",
                f"{label} score {kind.formula_text} = {shown} is beyond the range of"
                " floating-point numbers",
                pointer,
                "use other units for the inputs (for example thousands of people for reach)",
            )
        )
        return tuple(found), None
    if given is not None and not _within(given, computed, tolerance):
        found.append(
            finding(
                f"{kind.prefix}-score-mismatch",
                f"{label} score {_show(given)} does not match {kind.formula_text} = {shown}"
                f" = {_fmt(computed)} (tolerance {tolerance:g})",
                f"{pointer}/score",
                f"set score to {_fmt(computed)}",
            )
        )
    return tuple(found), computed


def _compute(kind: _Kind, values: Mapping[str, Number]) -> Optional[float]:
    """The score from valid inputs, or None when it does not fit in a finite float."""
    try:
        result = kind.formula(values)
    except OverflowError:
        return None
    return result if math.isfinite(result) else None


def _score(kind: _Kind, block: Mapping[str, Any]) -> float:
    found, computed = _check(kind, block, "", None, TOLERANCE)
    if found or computed is None:
        raise UsageError("; ".join(f.message for f in found))
    return computed


def rice_score(reach: Number, impact: Number, confidence: Number, effort: Number) -> float:
    """The RICE score: reach * impact * confidence / 100 / effort, unrounded.

    ``rice_score(5000, 2, 80, 3)`` is 2666.666…. Raises :class:`~stageflow.errors.UsageError`
    when an input is not a finite number or out of its range (reach > 0, impact 0.25-3,
    confidence 0-100, effort > 0), or when the score is too large for a float.
    """
    block = {"reach": reach, "impact": impact, "confidence": confidence, "effort": effort}
    return _score(_RICE, block)


def wsjf_score(
    business_value: Number, time_criticality: Number, risk_reduction: Number, job_size: Number
) -> float:
    """The WSJF score: (business_value + time_criticality + risk_reduction) / job_size.

    ``wsjf_score(8, 6, 5, 3)`` is 6.333…. Raises :class:`~stageflow.errors.UsageError` when
    an input is not a finite number from 1 to 10.
    """
    block = {
        "business_value": business_value,
        "time_criticality": time_criticality,
        "risk_reduction": risk_reduction,
        "job_size": job_size,
    }
    return _score(_WSJF, block)


def check_rice(
    block: object,
    pointer: str = "/rice_score",
    *,
    path: Optional[str] = None,
    tolerance: float = TOLERANCE,
) -> Tuple[Finding, ...]:
    """Every problem of a parsed ``rice_score`` block, as error findings; never raises.

    ``pointer`` is the JSON pointer of the block inside its document (``""`` for a block
    that is the whole document); each finding points at the offending field, or at the
    block itself when it is not an object or its score overflows. ``path`` names the file
    and is copied into each finding. An absent ``score`` is fine; a present one must match
    the inputs within ``tolerance``, and a mismatch recommends the correct score.
    """
    return _check(_RICE, block, pointer, path, tolerance)[0]


def check_wsjf(
    block: object,
    pointer: str = "/wsjf_score",
    *,
    path: Optional[str] = None,
    tolerance: float = TOLERANCE,
) -> Tuple[Finding, ...]:
    """Every problem of a parsed ``wsjf_score`` block, as error findings; never raises.

    Works as :func:`check_rice` does, for the inputs business_value, time_criticality,
    risk_reduction and job_size, each 1-10, and the score (bv + tc + rr) / job_size.
    """
    return _check(_WSJF, block, pointer, path, tolerance)[0]

"""RICE and WSJF scores: computing them and checking stored score blocks (stageflow.scoring)."""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stageflow.errors import StageflowError, UsageError
from stageflow.findings import Finding, Severity
from stageflow.scoring import (
    RICE_CODES,
    RICE_FIELDS,
    TOLERANCE,
    WSJF_CODES,
    WSJF_FIELDS,
    check_rice,
    check_wsjf,
    rice_score,
    wsjf_score,
)

RICE_OK: Dict[str, Any] = {"reach": 5000, "impact": 2, "confidence": 80, "effort": 3}
WSJF_OK: Dict[str, Any] = {
    "business_value": 8,
    "time_criticality": 6,
    "risk_reduction": 5,
    "job_size": 3,
}


def rice(**changes: Any) -> Dict[str, Any]:
    """The reference RICE block (5000, 2, 80, 3), with keys changed (or, with _REMOVE, removed)."""
    return _changed(RICE_OK, changes)


def wsjf(**changes: Any) -> Dict[str, Any]:
    """The reference WSJF block (8, 6, 5, 3), with keys changed (or, with _REMOVE, removed)."""
    return _changed(WSJF_OK, changes)


_REMOVE = object()


def _changed(base: Dict[str, Any], changes: Dict[str, Any]) -> Dict[str, Any]:
    block = dict(base)
    for key, value in changes.items():
        if value is _REMOVE:
            block.pop(key, None)
        else:
            block[key] = value
    return block


def codes(findings: Tuple[Finding, ...]) -> List[Tuple[str, Optional[str]]]:
    return [(f.code, f.pointer) for f in findings]


# -- the documented examples ---------------------------------------------------------------


def test_the_documented_rice_example() -> None:
    assert rice_score(5000, 2, 80, 3) == pytest.approx(2666.67, abs=0.01)
    assert check_rice(rice(score=2666.67)) == ()


def test_the_documented_wsjf_example() -> None:
    assert wsjf_score(8, 6, 5, 3) == pytest.approx(6.33, abs=0.01)
    assert check_wsjf(wsjf(score=6.33)) == ()


def test_scores_are_not_rounded() -> None:
    assert rice_score(5000, 2, 80, 3) == 5000 * 2 * 80 / 100 / 3
    assert wsjf_score(8, 6, 5, 3) == 19 / 3


# -- every rule and boundary -----------------------------------------------------------------

RICE_CASES = [
    # (field, value, expected code or None for valid)
    ("reach", 1, None),
    ("reach", 0.001, None),
    ("reach", 10**6, None),
    ("reach", 0, "rice-reach"),
    ("reach", 0.0, "rice-reach"),
    ("reach", -1, "rice-reach"),
    ("impact", 0.25, None),
    ("impact", 3, None),
    ("impact", 3.0, None),
    ("impact", 0.5, None),
    ("impact", 1.7, None),  # documented as 0.25/0.5/1/2/3, checked as a range
    ("impact", 0.24, "rice-impact"),
    ("impact", 0.2499999, "rice-impact"),
    ("impact", 3.0000001, "rice-impact"),
    ("impact", 0, "rice-impact"),
    ("impact", -2, "rice-impact"),
    ("confidence", 0, None),
    ("confidence", 0.0, None),
    ("confidence", 100, None),
    ("confidence", 0.8, None),  # 0.8 %, a valid (if unlikely) percentage
    ("confidence", -0.01, "rice-confidence"),
    ("confidence", 100.01, "rice-confidence"),
    ("confidence", 101, "rice-confidence"),
    ("effort", 0.01, None),
    ("effort", 1e-6, None),
    ("effort", 0, "rice-effort"),
    ("effort", 0.0, "rice-effort"),
    ("effort", -0.5, "rice-effort"),
]


@pytest.mark.parametrize(("field", "value", "code"), RICE_CASES)
def test_rice_rules(field: str, value: Any, code: Optional[str]) -> None:
    found = check_rice({**RICE_OK, field: value})
    if code is None:
        assert found == ()
        assert rice_score(**{**RICE_OK, field: value}) >= 0
    else:
        assert codes(found) == [(code, f"/rice_score/{field}")]
        assert found[0].severity is Severity.ERROR
        assert repr(value) in found[0].message or str(value) in found[0].message
        assert f"RICE {field} must be" in found[0].message
        assert found[0].recommendation
        with pytest.raises(UsageError, match=f"RICE {field} must be"):
            rice_score(**{**RICE_OK, field: value})


WSJF_CASES = [
    (field, value, code)
    for field in WSJF_FIELDS
    for value, code in [
        (1, None),
        (10, None),
        (1.0, None),
        (5.5, None),
        (0, "wsjf-range"),
        (0.99, "wsjf-range"),
        (10.01, "wsjf-range"),
        (11, "wsjf-range"),
        (-3, "wsjf-range"),
    ]
]


@pytest.mark.parametrize(("field", "value", "code"), WSJF_CASES)
def test_wsjf_rules(field: str, value: Any, code: Optional[str]) -> None:
    found = check_wsjf({**WSJF_OK, field: value})
    if code is None:
        assert found == ()
        assert 0.3 <= wsjf_score(**{**WSJF_OK, field: value}) <= 30
    else:
        assert codes(found) == [(code, f"/wsjf_score/{field}")]
        assert f"WSJF {field} must be 1-10, got {value}" in found[0].message
        with pytest.raises(UsageError, match=f"WSJF {field} must be 1-10"):
            wsjf_score(**{**WSJF_OK, field: value})


def test_a_zero_divisor_is_a_finding_never_a_zero_division_error() -> None:
    assert codes(check_rice(rice(effort=0, score=1))) == [("rice-effort", "/rice_score/effort")]
    assert codes(check_wsjf(wsjf(job_size=0, score=1))) == [("wsjf-range", "/wsjf_score/job_size")]
    with pytest.raises(UsageError):
        rice_score(5000, 2, 80, 0)
    with pytest.raises(UsageError):
        wsjf_score(8, 6, 5, 0)


@pytest.mark.parametrize("field", RICE_FIELDS)
def test_each_missing_rice_input_is_reported_at_its_pointer(field: str) -> None:
    found = check_rice({**rice(**{field: _REMOVE}), "score": 1})
    assert codes(found) == [("rice-missing", f"/rice_score/{field}")]
    assert found[0].message == f"RICE {field} is missing"


@pytest.mark.parametrize("field", WSJF_FIELDS)
def test_each_missing_wsjf_input_is_reported_at_its_pointer(field: str) -> None:
    found = check_wsjf({**wsjf(**{field: _REMOVE}), "score": 1})
    assert codes(found) == [("wsjf-missing", f"/wsjf_score/{field}")]


def test_an_empty_block_reports_every_input() -> None:
    assert [f.pointer for f in check_rice({})] == [f"/rice_score/{k}" for k in RICE_FIELDS]
    assert {f.code for f in check_wsjf({})} == {"wsjf-missing"}
    assert len(check_wsjf({})) == 4


def test_a_missing_score_is_fine() -> None:
    assert check_rice(RICE_OK) == ()
    assert check_wsjf(WSJF_OK) == ()


NOT_NUMBERS = [
    "5",
    "",
    True,
    False,
    None,
    [],
    [3],
    {},
    {"value": 3},
    math.nan,
    math.inf,
    -math.inf,
]


@pytest.mark.parametrize("value", NOT_NUMBERS, ids=repr)
@pytest.mark.parametrize("field", [*RICE_FIELDS, "score"])
def test_rice_values_that_are_not_finite_numbers(field: str, value: Any) -> None:
    found = check_rice(rice(**{field: value}))
    assert codes(found) == [("rice-type", f"/rice_score/{field}")]
    assert f"RICE {field} must be a finite number, got " in found[0].message


@pytest.mark.parametrize("value", NOT_NUMBERS, ids=repr)
@pytest.mark.parametrize("field", [*WSJF_FIELDS, "score"])
def test_wsjf_values_that_are_not_finite_numbers(field: str, value: Any) -> None:
    found = check_wsjf(wsjf(**{field: value}))
    assert codes(found) == [("wsjf-type", f"/wsjf_score/{field}")]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("80", 'the string "80"'),
        (True, "true"),
        (None, "null"),
        ([80], "an array"),
        ({}, "an object"),
        (math.nan, "NaN"),
        (-math.inf, "-Infinity"),
        ("x" * 100, '"' + "x" * 25 + "..."),
    ],
)
def test_messages_name_the_value_as_json(value: Any, shown: str) -> None:
    (finding,) = check_rice(rice(confidence=value))
    assert shown in finding.message


@pytest.mark.parametrize("block", [None, [], [RICE_OK], "rice", 3, True, 2.5])
def test_a_block_that_is_not_an_object(block: Any) -> None:
    assert codes(check_rice(block)) == [("rice-type", "/rice_score")]
    assert codes(check_wsjf(block, "/x/wsjf")) == [("wsjf-type", "/x/wsjf")]


def test_every_problem_of_a_block_is_reported() -> None:
    block = {"reach": 0, "impact": "high", "confidence": 150, "score": None, "justification": 1}
    assert codes(check_rice(block)) == [
        ("rice-reach", "/rice_score/reach"),
        ("rice-type", "/rice_score/impact"),
        ("rice-confidence", "/rice_score/confidence"),
        ("rice-missing", "/rice_score/effort"),
        ("rice-type", "/rice_score/score"),
    ]
    block = {"business_value": 0, "time_criticality": 11, "risk_reduction": True, "score": "x"}
    assert codes(check_wsjf(block)) == [
        ("wsjf-range", "/wsjf_score/business_value"),
        ("wsjf-range", "/wsjf_score/time_criticality"),
        ("wsjf-type", "/wsjf_score/risk_reduction"),
        ("wsjf-missing", "/wsjf_score/job_size"),
        ("wsjf-type", "/wsjf_score/score"),
    ]


def test_rice_score_reports_every_problem_in_its_error() -> None:
    with pytest.raises(UsageError) as raised:
        rice_score(0, 5, True, -1)
    assert isinstance(raised.value, StageflowError)
    message = str(raised.value)
    for part in ("reach must be > 0", "impact must be 0.25-3", "confidence", "effort"):
        assert part in message


def test_wsjf_score_refuses_non_numbers() -> None:
    with pytest.raises(UsageError, match="business_value must be a finite number"):
        wsjf_score("8", 6, 5, 3)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="job_size"):
        wsjf_score(8, 6, 5, math.nan)


def test_unknown_keys_are_left_alone() -> None:
    block = rice(score=2666.67, justification={"reach": "why"}, note=None)
    assert check_rice(block) == ()


# -- score mismatches --------------------------------------------------------------------------


def test_a_mismatch_names_both_scores_and_recommends_the_right_one() -> None:
    (finding,) = check_rice(rice(score=2600))
    assert finding.code == "rice-score-mismatch"
    assert finding.pointer == "/rice_score/score"
    assert "2600" in finding.message
    assert "5000 * 2 * 80 / 100 / 3 = 2666.67" in finding.message
    assert "tolerance 0.01" in finding.message
    assert finding.recommendation == "set score to 2666.67"
    (finding,) = check_wsjf(wsjf(score=6))
    assert finding.code == "wsjf-score-mismatch"
    assert "(8 + 6 + 5) / 3 = 6.33" in finding.message
    assert finding.recommendation == "set score to 6.33"


@pytest.mark.parametrize(
    ("score", "matches"),
    [
        (2.0, True),
        (2, True),
        (2.005, True),
        (2.01, True),  # the tolerance is inclusive ...
        (1.99, True),  # ... on both sides, despite binary rounding
        (2.0101, False),
        (1.9899, False),
        (2.02, False),
        (0, False),
        (-2, False),
        (10**400, False),  # a valid JSON number, too large for a float
    ],
)
def test_the_tolerance(score: Any, matches: bool) -> None:
    block = {"business_value": 2, "time_criticality": 2, "risk_reduction": 2, "job_size": 3}
    found = check_wsjf({**block, "score": score})
    assert codes(found) == ([] if matches else [("wsjf-score-mismatch", "/wsjf_score/score")])


def test_the_tolerance_can_be_changed() -> None:
    assert check_rice(rice(score=2667), tolerance=0.5) == ()
    assert check_rice(rice(score=2666.67), tolerance=0) != ()
    assert TOLERANCE == 0.01


def test_a_score_of_a_confidence_of_zero_is_zero() -> None:
    assert rice_score(5000, 2, 0, 3) == 0
    assert check_rice(rice(confidence=0, score=0)) == ()
    assert codes(check_rice(rice(confidence=0, score=0.02))) == [
        ("rice-score-mismatch", "/rice_score/score")
    ]


def test_a_score_beyond_floating_point_is_an_overflow_finding() -> None:
    for block in (
        rice(reach=1e308, impact=3, confidence=100, effort=0.5),
        rice(reach=10**400),
        rice(effort=5e-324),
    ):
        assert codes(check_rice(block)) == [("rice-overflow", "/rice_score")]
        with pytest.raises(UsageError, match="beyond the range of floating-point numbers"):
            rice_score(**block)
    # A huge integer is still a number, and its message stays short.
    (finding,) = check_rice(rice(reach=10**5000, score=1))
    assert finding.code == "rice-overflow"
    assert "an integer of about 5000 digits" in finding.message


def test_pointer_and_path_are_copied_into_findings() -> None:
    found = check_rice(rice(reach=0, score=1), "/mvp_features/0/rice_score", path="p.json")
    assert [(f.path, f.pointer) for f in found] == [("p.json", "/mvp_features/0/rice_score/reach")]
    found = check_wsjf(wsjf(score=1), "", path="w.json")
    assert [(f.path, f.pointer) for f in found] == [("w.json", "/score")]


# -- the seed example ---------------------------------------------------------------------------

# Every score block of the seed example 004 (../shared/seeds/004_dbd00f63aad75505.txt): the five
# stories of .tmp/planning/prioritized.json (mvp_features and post_mvp_features, with their
# "justification" objects left out) and the task .tmp/tasks/order-management-mvp/task.json.
SEED_BLOCKS: List[Tuple[str, str, Dict[str, Any]]] = [
    ("prioritized.json", "/mvp_features/0/rice_score",
     {"reach": 80000, "impact": 3.0, "confidence": 90, "effort": 0.2, "score": 1080000,
      "justification": {"reach": "80% of 100k users add to cart quarterly"}}),
    ("prioritized.json", "/mvp_features/0/wsjf_score",
     {"business_value": 10, "time_criticality": 10, "risk_reduction": 8, "job_size": 9,
      "score": 3.11}),
    ("prioritized.json", "/mvp_features/1/rice_score",
     {"reach": 50000, "impact": 2.0, "confidence": 80, "effort": 0.3, "score": 266667}),
    ("prioritized.json", "/mvp_features/1/wsjf_score",
     {"business_value": 9, "time_criticality": 9, "risk_reduction": 9, "job_size": 8,
      "score": 3.38}),
    ("prioritized.json", "/mvp_features/2/rice_score",
     {"reach": 50000, "impact": 3.0, "confidence": 85, "effort": 0.3, "score": 425000}),
    ("prioritized.json", "/mvp_features/2/wsjf_score",
     {"business_value": 10, "time_criticality": 10, "risk_reduction": 7, "job_size": 8,
      "score": 3.38}),
    ("prioritized.json", "/mvp_features/3/rice_score",
     {"reach": 50000, "impact": 1.0, "confidence": 90, "effort": 0.2, "score": 225000}),
    ("prioritized.json", "/mvp_features/3/wsjf_score",
     {"business_value": 7, "time_criticality": 8, "risk_reduction": 5, "job_size": 9,
      "score": 2.22}),
    ("prioritized.json", "/post_mvp_features/0/rice_score",
     {"reach": 30000, "impact": 0.5, "confidence": 80, "effort": 0.2, "score": 60000}),
    ("prioritized.json", "/post_mvp_features/0/wsjf_score",
     {"business_value": 5, "time_criticality": 4, "risk_reduction": 3, "job_size": 9,
      "score": 1.33}),
    ("task.json", "/rice_score",
     {"reach": 50000, "impact": 3.0, "confidence": 85, "effort": 1.2, "score": 106250}),
    ("task.json", "/wsjf_score",
     {"business_value": 10, "time_criticality": 10, "risk_reduction": 8, "job_size": 5,
      "score": 5.6}),
]  # fmt: skip

# The issue calls the seed's scores consistent, but story-order-002's RICE score is rounded
# to a whole number: 50000 * 2 * 80 / 100 / 0.3 = 266666.67, stored as 266667 (off by 0.33,
# beyond the 0.01 tolerance). Every other block matches.
SEED_MISMATCHES = {("prioritized.json", "/mvp_features/1/rice_score"): "266666.67"}


@pytest.mark.parametrize(
    ("path", "pointer", "block"), SEED_BLOCKS, ids=[p + q for p, q, _ in SEED_BLOCKS]
)
def test_the_seed_example_scores(path: str, pointer: str, block: Dict[str, Any]) -> None:
    kind = "rice" if pointer.endswith("rice_score") else "wsjf"
    check = check_rice if kind == "rice" else check_wsjf
    found = check(block, pointer, path=path)
    expected = SEED_MISMATCHES.get((path, pointer))
    if expected is None:
        assert found == ()
    else:
        assert codes(found) == [(f"{kind}-score-mismatch", pointer + "/score")]
        assert found[0].recommendation == f"set score to {expected}"
        assert found[0].path == path


# -- properties -------------------------------------------------------------------------------


def _floats(low: float, high: float, **kwargs: Any) -> st.SearchStrategy[float]:
    return st.floats(low, high, allow_nan=False, allow_infinity=False, **kwargs)


def _numbers(low: float, high: float, **kwargs: Any) -> st.SearchStrategy[Any]:
    """Ints or floats in [low, high] (bounds excluded with exclude_min/exclude_max)."""
    ints = st.integers(math.ceil(low), math.floor(high))
    if kwargs.get("exclude_min"):
        ints = ints.filter(lambda i: i > low)
    return st.one_of(ints, _floats(low, high, **kwargs))


RICE_INPUTS = st.fixed_dictionaries(
    {
        "reach": _numbers(0, 1e6, exclude_min=True),
        "impact": _numbers(0.25, 3),
        "confidence": _numbers(0, 100),
        "effort": _numbers(0.1, 1000),
    }
)
WSJF_INPUTS = st.fixed_dictionaries({k: _numbers(1, 10) for k in WSJF_FIELDS})
# Off by more than 0.011, in either direction.
OFFSETS = st.builds(lambda size, sign: size * sign, _floats(0.011, 1e6), st.sampled_from((1, -1)))


@given(RICE_INPUTS)
def test_a_block_with_its_computed_rice_score_has_no_finding(block: Dict[str, Any]) -> None:
    score = rice_score(**block)
    assert check_rice({**block, "score": score}) == ()
    assert check_rice({**block, "score": round(score, 2)}) == ()


@given(WSJF_INPUTS)
def test_a_block_with_its_computed_wsjf_score_has_no_finding(block: Dict[str, Any]) -> None:
    score = wsjf_score(**block)
    assert check_wsjf({**block, "score": score}) == ()
    assert check_wsjf({**block, "score": round(score, 2)}) == ()


@given(RICE_INPUTS, OFFSETS)
def test_a_wrong_rice_score_gets_exactly_the_mismatch(block: Dict[str, Any], off: float) -> None:
    found = check_rice({**block, "score": rice_score(**block) + off})
    assert codes(found) == [("rice-score-mismatch", "/rice_score/score")]


@given(WSJF_INPUTS, OFFSETS)
def test_a_wrong_wsjf_score_gets_exactly_the_mismatch(block: Dict[str, Any], off: float) -> None:
    found = check_wsjf({**block, "score": wsjf_score(**block) + off})
    assert codes(found) == [("wsjf-score-mismatch", "/wsjf_score/score")]


@given(
    st.fixed_dictionaries(
        {
            "reach": st.floats(min_value=0, exclude_min=True, allow_infinity=False),
            "impact": _floats(0.25, 3),
            "confidence": _floats(0, 100),
            "effort": st.floats(min_value=0, exclude_min=True, allow_infinity=False),
        }
    )
)
def test_any_valid_rice_inputs_give_a_score_or_an_overflow(block: Dict[str, Any]) -> None:
    found = check_rice(block)
    assert codes(found) in ([], [("rice-overflow", "/rice_score")])
    if not found:
        score = rice_score(**block)
        assert math.isfinite(score)
        assert check_rice({**block, "score": score}) == ()


JSON_LIKE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**400)
    | st.floats()
    | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def _blocks(fields: Tuple[str, ...]) -> st.SearchStrategy[Any]:
    keyed = st.fixed_dictionaries({}, optional=dict.fromkeys((*fields, "score"), JSON_LIKE))
    return st.one_of(JSON_LIKE, keyed)


def _assert_well_formed(found: Tuple[Finding, ...], allowed: Tuple[str, ...], base: str) -> None:
    assert isinstance(found, tuple)
    for finding in found:
        assert isinstance(finding, Finding)
        assert finding.code in allowed
        assert finding.severity is Severity.ERROR
        assert finding.pointer is not None
        assert finding.pointer.startswith(base)
        assert finding.message
        assert len(finding.message) < 300
        assert finding.recommendation


@given(_blocks(RICE_FIELDS))
def test_arbitrary_json_never_breaks_check_rice(block: Any) -> None:
    _assert_well_formed(check_rice(block, "/b"), RICE_CODES, "/b")


@given(_blocks(WSJF_FIELDS))
def test_arbitrary_json_never_breaks_check_wsjf(block: Any) -> None:
    _assert_well_formed(check_wsjf(block, "/b"), WSJF_CODES, "/b")


@given(JSON_LIKE, JSON_LIKE, JSON_LIKE, JSON_LIKE)
def test_the_score_functions_return_a_finite_float_or_raise_a_usage_error(
    a: Any, b: Any, c: Any, d: Any
) -> None:
    for compute in (rice_score, wsjf_score):
        try:
            score = compute(a, b, c, d)
        except UsageError:
            continue
        assert isinstance(score, float)
        assert math.isfinite(score)

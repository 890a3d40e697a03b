"""Line ranges of context and reference files: every problem reported with its code, never
a crash on any input, and a canonical format that round-trips."""

from __future__ import annotations

import json
import pickle
import re
from typing import List, Sequence, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stageflow.errors import StageflowError, UsageError
from stageflow.findings import Severity
from stageflow.linerange import (
    MAX_LINE,
    LineRange,
    LineRangeCheck,
    LineRangeError,
    check_line_ranges,
    extract_lines,
    format_line_ranges,
    line_in_ranges,
    parse_line_ranges,
)

ERROR_CODES = frozenset(
    {
        "line-range-type",
        "line-range-characters",
        "line-range-edge-comma",
        "line-range-edge-hyphen",
        "line-range-double-comma",
        "line-range-double-hyphen",
        "line-range-empty-segment",
        "line-range-shape",
        "line-range-below-one",
        "line-range-too-large",
        "line-range-reversed",
    }
)
WARNING_CODES = frozenset({"line-range-single", "line-range-overlap"})

FAST = settings(max_examples=200, deadline=None)


def _codes(check: LineRangeCheck) -> Tuple[str, ...]:
    return tuple(f.code for f in check.findings)


# -- every listed error and warning, with its code ------------------------------------------

CASES: List[Tuple[str, Tuple[str, ...]]] = [
    # The whole file.
    ("", ()),
    ("   ", ()),
    ("\t\n ", ()),
    # Grammar 2's valid examples, and grammar 1's (ranges only, a strict subset).
    ("42", ()),
    ("12-18", ()),
    ("12,15-20,25", ()),
    ("1-10,25,30-50,100-120", ()),
    ("10-50", ()),
    ("1-20,45-60", ()),
    # Whitespace around the whole, around segments and around the hyphen.
    (" 1-3 , 7 ", ()),
    ("1 - 3", ()),
    ("\t10-20,\n25 ", ()),
    ("007", ()),
    ("10-20,21-30", ()),
    (str(MAX_LINE), ()),
    ("0" * 30 + "1", ()),
    # Characters.
    ("a..b", ("line-range-characters",)),
    ("12:18", ("line-range-characters",)),
    ("12..18", ("line-range-characters",)),
    ("abc-def", ("line-range-characters",)),
    ("1;2", ("line-range-characters",)),
    ("1.5", ("line-range-characters",)),
    ("+3", ("line-range-characters",)),
    ("\u0663", ("line-range-characters",)),  # ARABIC-INDIC DIGIT THREE
    ("\u00b2", ("line-range-characters",)),  # SUPERSCRIPT TWO: isdigit(), yet no int
    ("1-3,x", ("line-range-characters",)),
    # Commas.
    (",1", ("line-range-edge-comma",)),
    ("1,", ("line-range-edge-comma",)),
    (",", ("line-range-edge-comma",)),
    (" 1-3, ", ("line-range-edge-comma",)),
    ("1,,2", ("line-range-double-comma",)),
    (",,1", ("line-range-edge-comma", "line-range-double-comma")),
    ("1, ,2", ("line-range-empty-segment",)),
    ("1,\t,2", ("line-range-empty-segment",)),
    # Hyphens.
    ("-3", ("line-range-edge-hyphen",)),
    ("3-", ("line-range-edge-hyphen",)),
    ("-", ("line-range-edge-hyphen",)),
    ("1,-3", ("line-range-edge-hyphen",)),
    ("1-3,4- ", ("line-range-edge-hyphen",)),
    ("-5-10", ("line-range-edge-hyphen",)),
    ("1--3", ("line-range-double-hyphen",)),
    ("--5", ("line-range-double-hyphen", "line-range-edge-hyphen")),
    # Shapes.
    ("1-2-3", ("line-range-shape",)),
    ("1 2", ("line-range-shape",)),
    ("1-2 3", ("line-range-shape",)),
    # Numbers.
    ("0", ("line-range-below-one",)),
    ("00", ("line-range-below-one",)),
    ("0-5", ("line-range-below-one",)),
    ("0-0", ("line-range-below-one",)),
    ("5-3", ("line-range-reversed",)),
    ("50-10", ("line-range-reversed",)),
    ("5-0", ("line-range-below-one", "line-range-reversed")),
    (str(MAX_LINE + 1), ("line-range-too-large",)),
    ("9" * 5000, ("line-range-too-large",)),  # past int()'s digit limit on 3.11+
    ("1-" + "9" * 20, ("line-range-too-large",)),
    # Warnings.
    ("5-5", ("line-range-single",)),
    ("10-20,20-30", ("line-range-overlap",)),
    ("20-30,10-20", ("line-range-overlap",)),
    ("10-20,15", ("line-range-overlap",)),
    ("5,5", ("line-range-overlap",)),
    ("1-100,5-10,20-30", ("line-range-overlap", "line-range-overlap")),
    ("3-3,1-5", ("line-range-single", "line-range-overlap")),
    # Several problems at once: all of them, in order.
    (
        "a,,0,5-3,1-2-3, ,7-",
        (
            "line-range-characters",
            "line-range-double-comma",
            "line-range-below-one",
            "line-range-reversed",
            "line-range-shape",
            "line-range-empty-segment",
            "line-range-edge-hyphen",
        ),
    ),
    ("5-5,0", ("line-range-single", "line-range-below-one")),
    ("3-3,1-5,0", ("line-range-single", "line-range-below-one", "line-range-overlap")),
]


@pytest.mark.parametrize(("text", "codes"), CASES, ids=[repr(text)[:40] for text, _ in CASES])
def test_each_problem_is_reported_with_its_code(text: str, codes: Tuple[str, ...]) -> None:
    check = check_line_ranges(text)
    assert _codes(check) == codes
    assert check.valid == (not ERROR_CODES.intersection(codes))
    for finding in check.findings:
        expected = Severity.WARNING if finding.code in WARNING_CODES else Severity.ERROR
        assert finding.severity is expected
        assert finding.message
        assert finding.recommendation
        assert finding.path is None
        assert finding.pointer is None


def test_the_table_covers_every_code() -> None:
    covered = {code for _, codes in CASES for code in codes}
    assert covered == (ERROR_CODES | WARNING_CODES) - {"line-range-type"}


def test_valid_strings_give_their_ranges_in_the_order_written() -> None:
    assert parse_line_ranges(" 1-3 , 7 ") == (LineRange(1, 3), LineRange(7, 7))
    assert parse_line_ranges("20-30,10-20") == (LineRange(20, 30), LineRange(10, 20))
    assert parse_line_ranges("5-5") == (LineRange(5, 5),)
    assert parse_line_ranges("") == ()
    assert parse_line_ranges(None) == ()
    check = check_line_ranges("10-20,20-30")
    assert check.valid
    assert check.ranges == (LineRange(10, 20), LineRange(20, 30))
    assert [f.code for f in check.warnings] == ["line-range-overlap"]
    assert check.errors == ()
    assert '"10-20" and "20-30"' in check.warnings[0].message
    assert '"10-30"' in str(check.warnings[0].recommendation)


def test_an_invalid_string_has_no_ranges_even_where_segments_were_fine() -> None:
    check = check_line_ranges("1-3,0")
    assert not check.valid
    assert check.ranges == ()
    assert [f.code for f in check.errors] == ["line-range-below-one"]


def test_parse_names_every_error_and_keeps_every_finding() -> None:
    with pytest.raises(LineRangeError) as caught:
        parse_line_ranges("0,5-3,,5-5")
    error = caught.value
    assert isinstance(error, UsageError)
    assert isinstance(error, StageflowError)
    assert error.text == "0,5-3,,5-5"
    assert [f.code for f in error.findings] == [
        "line-range-double-comma",
        "line-range-below-one",
        "line-range-reversed",
        "line-range-single",
    ]
    for finding in error.findings:
        if finding.is_error:
            assert finding.message in str(error)
    assert "same start and end" not in str(error)  # warnings do not make it fail


def test_the_error_pickles_and_describes_itself_as_json() -> None:
    with pytest.raises(LineRangeError) as caught:
        parse_line_ranges("1,,x")
    error = caught.value
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is LineRangeError
    assert (str(copy), copy.text, copy.findings) == (str(error), error.text, error.findings)
    document = json.loads(json.dumps(error.to_dict()))
    assert document["error"] == "LineRangeError"
    assert document["text"] == "1,,x"
    assert [f["code"] for f in document["findings"]] == [
        "line-range-characters",
        "line-range-double-comma",
    ]
    assert document["findings"][0]["severity"] == "error"


@pytest.mark.parametrize("value", [5, 1.5, b"1-3", ["1-3"], {"lines": "1"}, True])
def test_a_value_that_is_not_a_string_is_a_finding(value: object) -> None:
    check = check_line_ranges(value)  # type: ignore[arg-type]
    assert _codes(check) == ("line-range-type",)
    assert not check.valid
    with pytest.raises(LineRangeError):
        parse_line_ranges(value)  # type: ignore[arg-type]


def test_messages_quote_long_or_odd_input_on_one_short_line() -> None:
    check = check_line_ranges("x" * 1000 + "\n1\r\n")
    (finding,) = check.findings
    assert "\n" not in finding.message
    assert len(finding.message) < 200


# -- LineRange, formatting and the helpers --------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, 1), (-1, 3), (3, 2), (1, MAX_LINE + 1), ("1", 2), (1.0, 2), (True, 2)],
)
def test_a_line_range_refuses_impossible_bounds(start: object, end: object) -> None:
    with pytest.raises(LineRangeError):
        LineRange(start, end)  # type: ignore[arg-type]


def test_a_line_range_is_frozen_ordered_and_prints_canonically() -> None:
    one, span = LineRange(42, 42), LineRange(10, 20)
    assert (str(one), str(span)) == ("42", "10-20")
    assert sorted([one, span, LineRange(10, 12)]) == [LineRange(10, 12), span, one]
    assert 10 in span
    assert 20 in span
    assert 21 not in span
    assert "10" not in span
    with pytest.raises(AttributeError):
        span.start = 1  # type: ignore[misc]


def test_format_examples() -> None:
    assert format_line_ranges([]) == ""
    assert format_line_ranges([LineRange(42, 42)]) == "42"
    assert format_line_ranges((LineRange(1, 10), LineRange(25, 25), LineRange(5, 7))) == (
        "1-10,25,5-7"
    )


def test_line_in_ranges_is_inclusive_and_empty_means_the_whole_file() -> None:
    ranges = (LineRange(10, 20), LineRange(25, 25))
    assert [n for n in range(30) if line_in_ranges(n, ranges)] == [*range(10, 21), 25]
    assert line_in_ranges(1, ())
    assert line_in_ranges(10**9, ())
    assert not line_in_ranges(0, ())
    assert not line_in_ranges(-4, ranges)


def test_extract_lines_examples() -> None:
    text = "one\ntwo\r\nthree\nfour\nfive"
    assert extract_lines(text, ()) == text
    assert extract_lines(text, parse_line_ranges("2-3")) == "two\r\nthree\n"
    assert extract_lines(text, parse_line_ranges("5,1")) == "one\nfive"
    assert extract_lines(text, parse_line_ranges("1-2,2-3,2")) == "one\ntwo\r\nthree\n"
    assert extract_lines(text, parse_line_ranges("6-9")) == ""
    assert extract_lines(text, (LineRange(1, MAX_LINE),)) == text
    assert extract_lines("", parse_line_ranges("1")) == ""
    assert extract_lines("a\n", parse_line_ranges("2")) == ""


# -- properties ------------------------------------------------------------------------------

SMALL_LINES = st.integers(1, 60)
ANY_LINES = st.one_of(SMALL_LINES, st.integers(1, MAX_LINE))


@st.composite
def line_ranges(draw: st.DrawFn, lines: st.SearchStrategy[int] = ANY_LINES) -> LineRange:
    a, b = draw(lines), draw(lines)
    return LineRange(min(a, b), max(a, b))


RANGE_LISTS = st.lists(line_ranges(), max_size=8)
GRAMMAR_TEXT = st.text(alphabet="0123456789,- \t\n", max_size=30)
ODD_TEXT = st.text(alphabet=st.sampled_from("01239,-- \t\u00a0\u2028x.:+\u0663\u00b2"))
ANY_TEXT = st.one_of(st.text(), GRAMMAR_TEXT, ODD_TEXT)


@FAST
@given(ANY_TEXT)
def test_any_text_gets_a_check_and_never_a_crash(text: str) -> None:
    check = check_line_ranges(text)
    assert isinstance(check.ranges, tuple)
    assert isinstance(check.findings, tuple)
    assert check.valid == (not check.errors)
    for finding in check.findings:
        assert finding.code in (ERROR_CODES if finding.is_error else WARNING_CODES)
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", finding.code)
        assert "\n" not in finding.message
        assert len(finding.message) < 400
    # Whitespace around the whole string changes nothing.
    assert check_line_ranges(f" \t{text}\n ") == check
    if check.valid:
        parsed = parse_line_ranges(text)
        assert parsed == check.ranges
        assert bool(parsed) == bool(text.strip())
        # The canonical form means the same lines.
        assert parse_line_ranges(format_line_ranges(parsed)) == parsed
    else:
        assert check.ranges == ()
        with pytest.raises(LineRangeError) as caught:
            parse_line_ranges(text)
        assert caught.value.findings == check.findings


@FAST
@given(RANGE_LISTS)
def test_format_and_parse_round_trip(ranges: List[LineRange]) -> None:
    text = format_line_ranges(ranges)
    assert parse_line_ranges(text) == tuple(ranges)
    assert format_line_ranges(parse_line_ranges(text)) == text


def _pad(data: st.DataObject) -> str:
    return data.draw(st.text(alphabet=" \t\n\u00a0", max_size=2))


@FAST
@given(st.data(), st.lists(line_ranges(), min_size=1, max_size=6))
def test_whitespace_around_segments_and_hyphens_is_tolerated(
    data: st.DataObject, ranges: List[LineRange]
) -> None:
    pieces = []
    for item in ranges:
        if item.start == item.end:
            pieces.append(f"{_pad(data)}{item.start}{_pad(data)}")
        else:
            pieces.append(
                f"{_pad(data)}{item.start}{_pad(data)}-{_pad(data)}{item.end}{_pad(data)}"
            )
    assert parse_line_ranges(",".join(pieces)) == tuple(ranges)


def _overlapping(a: LineRange, b: LineRange) -> bool:
    return a.end >= b.start and b.end >= a.start


@FAST
@given(st.lists(st.tuples(line_ranges(SMALL_LINES), st.booleans()), min_size=1, max_size=6))
def test_warnings_match_a_brute_force_oracle(items: Sequence[Tuple[LineRange, bool]]) -> None:
    # Grammar 1 (ranges only: "a-b" even for one line) is a subset: always valid here.
    written = [f"{r.start}-{r.end}" if as_range else str(r) for r, as_range in items]
    check = check_line_ranges(",".join(written))
    ranges = [r for r, _ in items]
    assert check.valid
    assert check.ranges == tuple(ranges)
    singles = sum(1 for r, as_range in items if as_range and r.start == r.end)
    assert _codes(check).count("line-range-single") == singles
    overlaps = _codes(check).count("line-range-overlap")
    pairs = any(_overlapping(a, b) for i, a in enumerate(ranges) for b in ranges[i + 1 :])
    assert (overlaps > 0) == pairs
    # Each range that overlaps an earlier one (sorted) is reported once.
    ordered = sorted(ranges)
    touching = sum(1 for i, b in enumerate(ordered) if any(_overlapping(a, b) for a in ordered[:i]))
    assert overlaps == touching


def _reference_lines(text: str) -> List[str]:
    return re.findall(r"[^\n]*\n|[^\n]+\Z", text)


@FAST
@given(st.text(alphabet="ab\r\n", max_size=40), st.lists(line_ranges(st.integers(1, 12))))
def test_extract_lines_keeps_exactly_the_lines_in_range(text: str, ranges: List[LineRange]) -> None:
    expected = "".join(
        line
        for number, line in enumerate(_reference_lines(text), start=1)
        if line_in_ranges(number, ranges)
    )
    assert extract_lines(text, ranges) == expected
    assert extract_lines(text, ()) == text
    assert extract_lines(text, (LineRange(1, MAX_LINE),)) == text

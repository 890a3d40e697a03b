"""Line ranges of context and reference files: ``"10-20,25,40-42"``.

A task's ``context_files`` and ``reference_files`` may name the lines an agent should
read. The grammar is that of the public tools' permissive validator (grammar 2 of the
reference; the strict ``^\\d+-\\d+(,\\d+-\\d+)*$`` grammar is a subset of it):

- comma-separated segments, each a single line ``n`` or a range ``a-b``, 1-based and
  inclusive; whitespace is tolerated around the whole string, around segments and around
  the hyphen of a range, never inside a number;
- an empty or whitespace-only string (or ``None``) means the whole file: no ranges.

:func:`check_line_ranges` never raises: it reports every problem it can find as a
:class:`~stageflow.findings.Finding` with a stable code, where the public tool stopped at
the first. Errors:

``line-range-type``
    the value is not a string (nor ``None``);
``line-range-characters``
    a character other than ASCII digits, commas, hyphens and whitespace;
``line-range-edge-comma``
    the string starts or ends with a comma;
``line-range-double-comma``
    two commas in a row (``"1,,2"``);
``line-range-empty-segment``
    a segment holding only whitespace (``"1, ,2"``);
``line-range-edge-hyphen``
    a segment starts or ends with a hyphen: a range without a start or an end (``"-3"``,
    ``"3-"``, ``"1,4-"``);
``line-range-double-hyphen``
    two hyphens in a row (``"1--3"``);
``line-range-shape``
    a segment that is neither ``n`` nor ``a-b`` for another reason: more than one hyphen
    (``"1-2-3"``), or whitespace inside a number (``"1 2"``);
``line-range-below-one``
    a line number below 1;
``line-range-too-large``
    a line number above :data:`MAX_LINE`;
``line-range-reversed``
    a range whose start is greater than its end (``"5-3"``).

Warnings (the value stays valid):

``line-range-single``
    a range ``a-a``, better written ``a``;
``line-range-overlap``
    two ranges that overlap or touch once sorted (``10-20`` and ``20-30`` touch;
    ``10-20`` and ``21-30`` do not).

Differences from the public tool, all deliberate: every problem is reported, not only the
first; a number containing whitespace (``"1 2"``) is an error instead of being read as
``1``; overlaps are found between any two ranges, not only neighbours in sorted order;
line numbers are capped at :data:`MAX_LINE` (the largest integer JavaScript tools reading
the same files represent exactly); and :func:`extract_lines` keeps each line's terminator,
so extracting every line gives back the text unchanged.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import attrs

from .errors import UsageError
from .findings import Finding, Severity, findings_tuple

__all__ = [
    "MAX_LINE",
    "LineRange",
    "LineRangeCheck",
    "LineRangeError",
    "check_line_ranges",
    "extract_lines",
    "format_line_ranges",
    "line_in_ranges",
    "parse_line_ranges",
]

MAX_LINE = 2**53 - 1
"""The largest line number accepted (JavaScript's ``Number.MAX_SAFE_INTEGER``)."""

_DIGITS = frozenset("0123456789")
# Digits of MAX_LINE: a longer number (leading zeros aside) is too large without being
# converted, so that no input, however long, reaches int()'s digit limit.
_MAX_DIGITS = len(str(MAX_LINE))
_EXAMPLE = 'e.g. "10-20,25"'
_QUOTE_LIMIT = 60


class LineRangeError(UsageError):
    """A line-range string is invalid.

    ``text`` is the string concerned and ``findings`` every finding about it (errors and
    warnings, as :func:`check_line_ranges` reports them).
    """

    def __init__(self, message: str, text: str = "", findings: Sequence[Finding] = ()) -> None:
        super().__init__(message)
        self.text = text
        self.findings: Tuple[Finding, ...] = tuple(findings)
        self.args = (message, text, self.findings)

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready description, with the text and every finding."""
        from ._render import finding_to_dict

        return {
            **super().to_dict(),
            "text": self.text,
            "findings": [finding_to_dict(f) for f in self.findings],
        }


def _positive_int(value: object, name: str) -> int:
    if type(value) is not int:
        raise LineRangeError(f"line range {name} must be an int, not {type(value).__name__}")
    if not 1 <= value <= MAX_LINE:
        raise LineRangeError(f"line range {name} must be between 1 and {MAX_LINE}, not {value}")
    return value


@attrs.frozen(order=True)
class LineRange:
    """Lines ``start`` to ``end`` of a file, 1-based and inclusive; ``start == end`` is one line.

    Construction checks ``1 <= start <= end <= MAX_LINE`` and raises
    :class:`LineRangeError` otherwise. ``line in r`` tells whether ``r`` holds a line, and
    ``str(r)`` is ``"42"`` or ``"10-20"``.
    """

    start: int
    end: int

    def __attrs_post_init__(self) -> None:
        _positive_int(self.start, "start")
        _positive_int(self.end, "end")
        if self.start > self.end:
            raise LineRangeError(f"line range start {self.start} is after its end {self.end}")

    def __contains__(self, line: object) -> bool:
        return isinstance(line, int) and self.start <= line <= self.end

    def __str__(self) -> str:
        if self.start == self.end:
            return str(self.start)
        return f"{self.start}-{self.end}"


def _ranges_tuple(items: Iterable[LineRange]) -> Tuple[LineRange, ...]:
    """Attrs converter: any iterable of ranges to a tuple."""
    return tuple(items)


@attrs.frozen
class LineRangeCheck:
    """What :func:`check_line_ranges` found.

    ``ranges`` holds the ranges in the order written, and is empty when the string means
    the whole file *or* when it is invalid: look at :attr:`valid` to tell them apart.
    ``findings`` holds every error and warning.
    """

    ranges: Tuple[LineRange, ...] = attrs.field(default=(), converter=_ranges_tuple)
    findings: Tuple[Finding, ...] = attrs.field(default=(), converter=findings_tuple)

    @property
    def valid(self) -> bool:
        """True when no finding is an error (warnings alone keep the string valid)."""
        return not any(f.is_error for f in self.findings)

    @property
    def errors(self) -> Tuple[Finding, ...]:
        """The findings of severity ``error``."""
        return tuple(f for f in self.findings if f.is_error)

    @property
    def warnings(self) -> Tuple[Finding, ...]:
        """The findings of severity ``warning``."""
        return tuple(f for f in self.findings if f.severity is Severity.WARNING)


def _quote(text: str) -> str:
    """``text`` in double quotes for a message, shortened and with control characters escaped."""
    if len(text) > _QUOTE_LIMIT:
        text = text[: _QUOTE_LIMIT - 3] + "..."
    return json.dumps(text, ensure_ascii=False)


def _error(code: str, message: str, recommendation: str) -> Finding:
    return Finding(code, message, Severity.ERROR, recommendation=recommendation)


def _warning(code: str, message: str, recommendation: str) -> Finding:
    return Finding(code, message, Severity.WARNING, recommendation=recommendation)


def _allowed(char: str) -> bool:
    return char in _DIGITS or char in ",-" or char.isspace()


def _number(part: str, segment: str, found: List[Finding]) -> Optional[int]:
    """The number in ``part`` (stripped; may be 0), or None after adding a finding."""
    if not all(c in _DIGITS for c in part):
        found.append(
            _error(
                "line-range-shape",
                f"Invalid segment {_quote(segment)}: a line number cannot contain spaces",
                f"Remove the spaces inside {part!r}, or separate segments with commas",
            )
        )
        return None
    significant = part.lstrip("0")
    if len(significant) > _MAX_DIGITS or (significant and int(significant) > MAX_LINE):
        found.append(
            _error(
                "line-range-too-large",
                f"Line number too large in {_quote(segment)}: the largest is {MAX_LINE}",
                "Use a line number the file can have",
            )
        )
        return None
    return int(part)


def _segment(segment: str, found: List[Finding]) -> Optional[LineRange]:
    """The range one non-blank segment (stripped, allowed characters only) describes."""
    problems = len(found)
    if "--" in segment:
        found.append(
            _error(
                "line-range-double-hyphen",
                f"Line range contains consecutive hyphens: {_quote(segment)}",
                'Write a range as "start-end", with a single hyphen',
            )
        )
    parts = [part.strip() for part in segment.split("-")]
    if len(parts) > 1 and (not parts[0] or not parts[-1]):
        if not parts[0] and not parts[-1]:
            missing = "start and no end"
        else:
            missing = "start" if not parts[0] else "end"
        found.append(
            _error(
                "line-range-edge-hyphen",
                f"Range {_quote(segment)} has no {missing}: "
                "a range cannot start or end with a hyphen",
                f"Give the range both ends, {_EXAMPLE}",
            )
        )
    if len(found) > problems:
        return None
    if len(parts) > 2:
        found.append(
            _error(
                "line-range-shape",
                f'Invalid range format: {_quote(segment)}. Expected format: "start-end"',
                'Write each segment as a line "n" or a range "start-end", with commas between',
            )
        )
        return None
    numbers = [_number(part, segment, found) for part in parts]
    if any(number is not None and number < 1 for number in numbers):
        found.append(
            _error(
                "line-range-below-one",
                f"Line numbers must be positive: {_quote(segment)}",
                "Line numbers start at 1",
            )
        )
    start, end = numbers[0], numbers[-1]
    if start is not None and end is not None and start > end:
        found.append(
            _error(
                "line-range-reversed",
                f"Invalid range (start > end): {_quote(segment)}. "
                "Start must be less than or equal to end.",
                f'Write the smaller number first: "{end}-{start}"',
            )
        )
    if len(found) > problems or start is None or end is None:
        return None
    if len(parts) == 2 and start == end:
        found.append(
            _warning(
                "line-range-single",
                f"Range {_quote(segment)} has the same start and end",
                f'Use the single line format: "{start}"',
            )
        )
    return LineRange(start, end)


def _overlaps(ranges: Sequence[LineRange]) -> List[Finding]:
    """A warning for each range that overlaps or touches an earlier one, once sorted.

    Each range is paired with the earlier range reaching farthest, so that every range
    overlapping any other is named, not only neighbours in sorted order.
    """
    found: List[Finding] = []
    reach: Optional[LineRange] = None
    for item in sorted(ranges):
        if reach is not None and reach.end >= item.start:
            merged = LineRange(reach.start, max(reach.end, item.end))
            found.append(
                _warning(
                    "line-range-overlap",
                    f'Overlapping ranges detected: "{reach}" and "{item}"',
                    f'Merge them into a single range: "{merged}"',
                )
            )
        if reach is None or item.end > reach.end:
            reach = item
    return found


def check_line_ranges(text: Optional[str]) -> LineRangeCheck:
    """Check a line-range string and report every problem; never raises.

    ``None``, ``""`` and whitespace mean the whole file: a valid check with no ranges. Any
    other value than a string gets a ``line-range-type`` error, since a document read from
    JSON may hold anything. See the module documentation for the codes.
    """
    value: object = text
    if value is None:
        return LineRangeCheck()
    if not isinstance(value, str):
        return LineRangeCheck(
            findings=[
                _error(
                    "line-range-type",
                    f"A line range must be a string, not {type(value).__name__}",
                    f"Give the lines as a string, {_EXAMPLE}",
                )
            ]
        )
    stripped = value.strip()
    if not stripped:
        return LineRangeCheck()
    found: List[Finding] = []
    bad = list(dict.fromkeys(c for c in stripped if not _allowed(c)))
    if bad:
        shown = ", ".join(repr(c) for c in bad[:10]) + (", ..." if len(bad) > 10 else "")
        found.append(
            _error(
                "line-range-characters",
                f"Invalid characters in line range: {_quote(stripped)} ({shown}). "
                "Only digits, commas, hyphens and spaces are allowed.",
                f"Use only digits, commas and hyphens, {_EXAMPLE}",
            )
        )
    if stripped[0] == "," or stripped[-1] == ",":
        found.append(
            _error(
                "line-range-edge-comma",
                f"Line range cannot start or end with a comma: {_quote(stripped)}",
                "Remove the leading or trailing comma",
            )
        )
    if ",," in stripped:
        found.append(
            _error(
                "line-range-double-comma",
                f"Line range contains consecutive commas: {_quote(stripped)}",
                "Separate segments with a single comma",
            )
        )
    ranges: List[LineRange] = []
    for number, raw in enumerate(stripped.split(","), start=1):
        segment = raw.strip()
        if not segment:
            # A bare "" comes from an edge or a double comma, reported above.
            if raw:
                found.append(
                    _error(
                        "line-range-empty-segment",
                        f"Empty segment {number} in line range: {_quote(stripped)}",
                        "Remove the empty segment and its comma",
                    )
                )
            continue
        if not all(_allowed(c) for c in segment):
            continue  # reported as line-range-characters above
        item = _segment(segment, found)
        if item is not None:
            ranges.append(item)
    found.extend(_overlaps(ranges))
    check = LineRangeCheck(findings=found)
    return attrs.evolve(check, ranges=ranges) if check.valid else check


def parse_line_ranges(text: Optional[str]) -> Tuple[LineRange, ...]:
    """The ranges of a line-range string, in the order written; ``()`` means the whole file.

    Raises :class:`LineRangeError` naming every error when the string is invalid (and
    nothing else, whatever the input). Warnings do not make it fail: use
    :func:`check_line_ranges` to see them.
    """
    check = check_line_ranges(text)
    if check.valid:
        return check.ranges
    value: object = text
    shown = value if isinstance(value, str) else repr(value)
    problems = "; ".join(f.message for f in check.errors)
    raise LineRangeError(f"invalid line range {_quote(shown)}: {problems}", shown, check.findings)


def format_line_ranges(ranges: Iterable[LineRange]) -> str:
    """The canonical string of ``ranges``: ``"42"`` for one line, ``"10-20"`` for a range,
    joined with commas in the order given; ``""`` (the whole file) for no ranges."""
    return ",".join(str(item) for item in ranges)


def line_in_ranges(line: int, ranges: Iterable[LineRange]) -> bool:
    """Whether 1-based ``line`` is inside ``ranges`` (inclusive); no ranges is the whole file.

    A line below 1 is in no file, so it is never inside.
    """
    items = tuple(ranges)
    if line < 1:
        return False
    return not items or any(line in item for item in items)


def _merged(ranges: Iterable[LineRange]) -> List[LineRange]:
    """``ranges`` sorted, with overlapping and adjacent ranges joined."""
    merged: List[LineRange] = []
    for item in sorted(ranges):
        if merged and merged[-1].end + 1 >= item.start:
            if item.end > merged[-1].end:
                merged[-1] = LineRange(merged[-1].start, item.end)
        else:
            merged.append(item)
    return merged


def extract_lines(text: str, ranges: Iterable[LineRange]) -> str:
    """The lines of ``text`` inside ``ranges``, in file order, each once; all of ``text``
    for no ranges.

    Lines are split on ``"\\n"`` and keep their terminator (a ``"\\r\\n"`` file stays one), so
    extracting every line gives ``text`` back. Ranges past the end of the text are cut.
    """
    items = tuple(ranges)
    if not items:
        return text
    pieces = text.split("\n")
    lines = [piece + "\n" for piece in pieces[:-1]]
    if pieces[-1]:
        lines.append(pieces[-1])
    return "".join("".join(lines[item.start - 1 : item.end]) for item in _merged(items))

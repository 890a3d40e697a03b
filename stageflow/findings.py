"""Findings and verdicts: what a gate or a rule says, with every reason.

A gate never answers with a bare bool: it returns a :class:`Verdict` holding all its
:class:`Finding` values, so that a person or an agent can see *why* and what to do.
"""

from __future__ import annotations

import enum
from typing import Iterable, Optional, Tuple

import attrs

__all__ = ["Finding", "Severity", "Verdict"]


def findings_tuple(items: Iterable[Finding]) -> Tuple[Finding, ...]:
    """Attrs converter: any iterable of findings to a tuple."""
    return tuple(items)


class Severity(str, enum.Enum):
    """How serious a finding is. Only ``error`` findings make a verdict fail."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@attrs.frozen
class Finding:
    """One problem (or observation) found by a gate or rule.

    ``code`` is a stable, kebab-case identifier callers can branch on; ``message`` is for
    people; ``path`` names the file concerned and ``pointer`` a JSON pointer inside it,
    where relevant; ``recommendation`` says how to fix it.
    """

    code: str
    message: str
    severity: Severity = attrs.field(default=Severity.ERROR, converter=Severity)
    path: Optional[str] = None
    pointer: Optional[str] = None
    recommendation: Optional[str] = None

    @property
    def is_error(self) -> bool:
        """True for findings of severity ``error``, the only ones that fail a verdict."""
        return self.severity is Severity.ERROR


@attrs.frozen
class Verdict:
    """The answer of one gate (or gating rule) about one stage.

    ``passed`` is false when the gate found at least one error. ``overridable`` says whether
    a failure may be overridden with a justification (gating rule 3). ``kind`` is ``rule``,
    ``entry`` or ``exit``.
    """

    gate: str
    passed: bool
    findings: Tuple[Finding, ...] = attrs.field(default=(), converter=findings_tuple)
    overridable: bool = True
    kind: str = "exit"

    @classmethod
    def from_findings(
        cls,
        gate: str,
        findings: Iterable[Finding] = (),
        *,
        overridable: bool = True,
        kind: str = "exit",
    ) -> Verdict:
        """A verdict that passes unless one of ``findings`` is an error."""
        found = tuple(findings)
        return cls(
            gate=gate,
            passed=not any(f.is_error for f in found),
            findings=found,
            overridable=overridable,
            kind=kind,
        )

    @property
    def errors(self) -> Tuple[Finding, ...]:
        """The findings of severity ``error``."""
        return tuple(f for f in self.findings if f.is_error)

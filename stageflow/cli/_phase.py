"""``stageflow phase ...``: start, complete and fail the phases of the current stage.

Each command goes through :class:`~stageflow.engine.Orchestrator` (``phase_start``,
``phase_complete``, ``phase_fail``), so refusals are recorded in the history and exit 1,
with every finding; an unknown phase id exits 2 and changes nothing.
"""

from __future__ import annotations

import argparse

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is imported only by type checkers (CLI fast path)
    from typing import Any, Callable, Dict, List, Tuple

    from ..run import RunState
    from . import Console


def _add_phase(p: argparse.ArgumentParser) -> None:
    p.add_argument("feature", metavar="FEATURE")
    p.add_argument("phase", metavar="PHASE_ID", help="a phase id, such as 2.1")


def _add_complete(p: argparse.ArgumentParser) -> None:
    _add_phase(p)
    p.add_argument("--summary", help="what the phase did (handed on with the stage's summary)")
    p.add_argument(
        "--plan-file",
        metavar="PATH",
        help="the plan file this phase wrote, relative to the project root (phase 1.2)",
    )


def _add_fail(p: argparse.ArgumentParser) -> None:
    _add_phase(p)
    p.add_argument("--reason", required=True, help="why (recorded in the history)")


def _add_review(p: argparse.ArgumentParser) -> None:
    _add_phase(p)
    p.add_argument(
        "--result",
        required=True,
        metavar="FILE",
        help='the review as JSON (\'-\' reads stdin): {"status": "approved" | '
        '"changes_requested", "issues": [{"severity": "HIGH", "issue": ..., '
        '"location": ..., "suggestion": ...}], "summary": ...}',
    )


def _add_run(p: argparse.ArgumentParser) -> None:
    from ._args import seconds

    _add_phase(p)
    p.add_argument(
        "--timeout",
        type=seconds,
        metavar="SECONDS",
        help="kill the command and fail the phase after this long (default: no limit)",
    )


def register(groups: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``stageflow phase ...``."""
    from ._args import add_group

    add_group(groups, "phase", "start, complete and fail the phases of a stage", COMMANDS, common)


def _label(run: RunState) -> str:
    """``2.1 (Implementation) of stage 2 (IMPLEMENT)``, for the phase of the last phase event."""
    event = next(e for e in reversed(run.history) if e.phase is not None)
    record = run.stage(str(event.stage))
    phase = record.phase(event.phase or "")
    return f"{phase.id} ({phase.name}) of stage {record.number} ({record.name})"


def _after(run: RunState) -> str:
    """What followed the phase's event: its stage completed, and the run stopped as asked."""
    from ._stage import _where

    events = list(run.history[-2:])
    stopped = events[-1].operation == "stop" and run.status.value == "stopped"
    if stopped:
        events.pop()
    said = ""
    if events[-1].operation == "complete" and events[-1].outcome.value == "applied":
        said = f"; stage {events[-1].stage} completed, {_where(run)}"
    if stopped:
        said += "; the run stopped, as asked (resume it to go on)"
    return said


def _start(ns: argparse.Namespace, console: Console) -> int:
    from ._stage import _run

    return _run(
        ns,
        console,
        lambda o: o.phase_start(ns.feature, ns.phase),
        lambda r: f"Started phase {_label(r)} of {r.feature!r}",
    )


def _complete(ns: argparse.Namespace, console: Console) -> int:
    from ._stage import _run

    return _run(
        ns,
        console,
        lambda o: o.phase_complete(
            ns.feature, ns.phase, summary=ns.summary, plan_file=ns.plan_file
        ),
        lambda r: f"Completed phase {_label(r)} of {r.feature!r}{_after(r)}",
    )


def _review(ns: argparse.Namespace, console: Console) -> int:
    import json
    import sys

    from ..config import load_config
    from ..errors import UsageError
    from ..review import parse_review

    source = "stdin" if ns.result == "-" else ns.result
    try:
        if ns.result == "-":
            text = sys.stdin.read()
        else:
            with open(ns.result, encoding="utf-8") as handle:
                text = handle.read()
        data = json.loads(text)
    except OSError as exc:
        raise UsageError(f"cannot read the review {source}: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"the review {source} is not valid JSON: {exc}") from None
    result = parse_review(data, source)
    config = load_config(ns.root)

    def review(flow: Any) -> Any:
        flow.config = config
        return flow.review(ns.feature, ns.phase, result)

    def describe(run: RunState) -> str:
        event = next(e for e in reversed(run.history) if e.review is not None)
        assert event.review is not None
        review = event.review
        head = f"Review {review.attempt} of phase {_label(run)}: "
        blocking = review.result.blocking(review.policy.block_on)
        return (
            head
            + {
                "passed": "passed; the phase is done" + _after(run),
                "retry": f"{len(blocking)} blocking issue(s); fix them and review again "
                f"({review.policy.max_retries - review.attempt + 1} retries left)",
                "continue": "retries used up; the phase completes with the issues left"
                + _after(run),
                "block": "retries used up; the run waits for a person to approve or reject it",
                "fail": "retries used up; the phase, its stage and the run failed",
            }[review.decision]
        )

    from ._stage import _run

    return _run(ns, console, review, describe)


def _run_command(ns: argparse.Namespace, console: Console) -> int:
    from ..phase_commands import run_command_phase
    from ._stage import _run

    def describe(run: RunState) -> str:
        last = run.history[-1]
        if last.operation == "phase_fail":
            return (
                f"Phase {_label(run)} of {run.feature!r} failed: {last.reason}; the run is failed"
            )
        event = next(e for e in reversed(run.history) if e.operation == "phase_complete")
        return f"Ran phase {_label(run)} of {run.feature!r}: {event.summary}{_after(run)}"

    ran: List[RunState] = []

    def action(flow: Any) -> RunState:
        from ..config import load_config

        flow.config = load_config(ns.root)  # the brief on the command's stdin has its settings
        ran.append(run_command_phase(flow, ns.feature, ns.phase, timeout=ns.timeout))
        return ran[-1]

    code = _run(ns, console, action, describe)
    failed = bool(ran) and ran[-1].history[-1].operation == "phase_fail"
    return 1 if code == 0 and failed else code  # the command failed: so does the command line


def _fail(ns: argparse.Namespace, console: Console) -> int:
    from ._stage import _run

    return _run(
        ns,
        console,
        lambda o: o.phase_fail(ns.feature, ns.phase, reason=ns.reason),
        lambda r: f"Marked phase {_label(r)} of {r.feature!r} failed; the run is failed",
    )


if TYPE_CHECKING:
    Command = Tuple[Callable[..., int], str, Callable[[argparse.ArgumentParser], None]]
COMMANDS: Dict[str, Command] = {
    "start": (_start, "start a phase of the current stage", _add_phase),
    "complete": (
        _complete,
        "complete a phase; the last one completes its stage through the gates",
        _add_complete,
    ),
    "fail": (_fail, "mark a phase failed, and with it its stage and the run", _add_fail),
    "run": (
        _run_command,
        "run a command phase: its command completes it, or fails it naming why",
        _add_run,
    ),
    "review": (
        _review,
        "record a review of a review phase: passed, fix and retry, or what its policy says",
        _add_review,
    ),
}
"""Every ``stageflow phase`` command: handler, help, arguments."""

"""Progress displays for :mod:`stageflow.executor` runs: ``on_event`` callbacks.

:class:`ProgressLines` turns each event into one plain line for a ``say`` callable (what
logs, agents and the demo read). :class:`Progress` writes to a stream: on a terminal it
redraws one status line in place and keeps only retries, failures and skips above it;
otherwise it writes the plain lines.
"""

from __future__ import annotations

from typing import Callable, Dict, Optional, TextIO

from ._execution import ExecutionEvent

__all__ = ["Progress", "ProgressLines"]


class ProgressLines:
    """An ``on_event`` callback that hands one line per event to ``say``."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self.running: Dict[str, int] = {}
        self.counts = {"completed": 0, "failed": 0, "skipped": 0}
        self.total = 0

    def __call__(self, event: ExecutionEvent) -> None:
        line = self.line(event)
        if line is not None:
            self.say(line)

    def status(self) -> str:
        """One line: settled of planned, what runs, and the counts."""
        done = sum(self.counts.values())
        running = ", ".join(sorted(self.running)) or "-"
        return (
            f"[{done}/{self.total}] running: {running}  ✓ {self.counts['completed']}"
            f"  ✗ {self.counts['failed']}  - {self.counts['skipped']}"
        )

    def line(self, event: ExecutionEvent) -> Optional[str]:
        """Record ``event``; return its line (``None`` for ``run_finished``)."""
        self.total = event.total or self.total
        seq, kind = event.seq or "", event.kind
        if kind == "run_started":
            noun = "subtask" if event.total == 1 else "subtasks"
            return f"Running {event.total} {noun} of {event.feature}"
        if kind == "task_started":
            self.running[seq] = event.attempt or 1
            resumed = ", resumed" if event.resumed else ""
            return f"→ {seq} started (attempt {event.attempt}{resumed})"
        if kind == "task_finished":
            self.running.pop(seq, None)
            self.counts["completed"] += 1
            return f"✓ {seq} completed in {event.elapsed or 0:.1f} s: {event.summary}"
        if kind == "task_retried":
            self.running.pop(seq, None)
            return f"↻ {seq} failed ({event.error}); retry in {event.delay or 0:g} s"
        if kind == "task_failed":
            self.running.pop(seq, None)
            self.counts["failed"] += 1
            return f"✗ {seq} failed: {event.error}"
        if kind == "task_skipped":
            self.counts["skipped"] += 1
            return f"- {seq} skipped: {event.reason}"
        if kind == "batch_done":
            return f"Batch {event.batch} done ({event.done}/{event.total})"
        return None


class Progress(ProgressLines):
    """An ``on_event`` callback writing to ``out``: live on a terminal (or with
    ``live=True``), plain lines otherwise. Call :meth:`close` when the run ends."""

    def __init__(self, out: TextIO, live: Optional[bool] = None) -> None:
        super().__init__(self._write_line)
        self.out = out
        isatty = getattr(out, "isatty", None)
        self.live = bool(isatty and isatty()) if live is None else live
        self._drawn = False

    def _write_line(self, text: str) -> None:
        self.out.write(text + "\n")

    def __call__(self, event: ExecutionEvent) -> None:
        line = self.line(event)
        if self.live:
            self._erase()
            if line is not None and event.kind not in ("task_started", "task_finished"):
                self._write_line(line)
            if event.kind != "run_finished":
                self.out.write(self.status())
                self._drawn = True
        elif line is not None:
            self._write_line(line)
        self.out.flush()

    def close(self) -> None:
        """Remove the status line (on a terminal)."""
        if self.live:
            self._erase()
            self.out.flush()

    def _erase(self) -> None:
        if self._drawn:
            self.out.write("\r\x1b[K")
            self._drawn = False

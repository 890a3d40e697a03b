"""Ready-made workers for :mod:`stageflow.executor`.

:class:`CommandWorker` runs one command per subtask: what ``stageflow task run --command``
uses to hand each subtask to an agent's CLI, a script or a build tool.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from typing import Any, Dict, Mapping, Optional, Sequence, Set, Tuple

import attrs

from ._execution import AttemptFailed, PermanentFailure, TaskContext, TaskResult

__all__ = ["CannotStart", "CommandFailed", "CommandWorker", "run_command"]

_TAIL = 400  # characters of standard error kept in a failure's message
_POLL = 0.25  # seconds between looks at a command whose output is still open

#: Seconds a command's output may stay open after it exited (a child it left behind),
#: before its process group is killed.
PIPE_GRACE = 1.0

# The commands running now, for CommandWorker.interrupt.
_LIVE: Set[subprocess.Popen[bytes]] = set()
_LIVE_GUARD = threading.Lock()


def _argv(value: Sequence[str]) -> Tuple[str, ...]:
    if isinstance(value, str):
        raise TypeError("argv must be a sequence of arguments, not one string (use shlex.split)")
    argv = tuple(value)
    if not argv or not all(isinstance(arg, str) for arg in argv):
        raise TypeError(f"argv must be a non-empty sequence of strings, not {value!r}")
    return argv


@attrs.frozen
class CommandWorker:
    """Run ``argv`` (no shell) once per attempt, in ``cwd``.

    The command reads the subtask's JSON document on standard input; its environment adds
    ``STAGEFLOW_FEATURE``, ``STAGEFLOW_SEQ``, ``STAGEFLOW_ATTEMPT``, ``STAGEFLOW_AGENT`` and
    ``STAGEFLOW_IDEMPOTENCY_KEY`` (``feature/seq/attempt``) to the caller's, plus ``env``.
    Exit status 0 completes the subtask, with the last non-blank line of standard output
    as its summary (or ``"<command> exited 0"``). Any other status fails the attempt (to be
    retried), naming the status and the end of standard error; a command that cannot be
    started fails the subtask at once (:class:`~stageflow.executor.PermanentFailure`). At
    the attempt's timeout the command and every process it started are killed; so are
    children it leaves behind holding its output open (after :data:`PIPE_GRACE` seconds),
    and every running command when the run is interrupted (:meth:`interrupt`).
    """

    argv: Tuple[str, ...] = attrs.field(converter=_argv)
    cwd: Optional[str] = None
    env: Mapping[str, str] = attrs.field(factory=dict, converter=dict)

    def __call__(self, subtask: Dict[str, Any], context: TaskContext) -> TaskResult:
        env = dict(os.environ)
        env.update(self.env)
        env.update(
            STAGEFLOW_FEATURE=context.feature,
            STAGEFLOW_SEQ=context.seq,
            STAGEFLOW_ATTEMPT=str(context.attempt),
            STAGEFLOW_AGENT=context.agent,
            STAGEFLOW_IDEMPOTENCY_KEY="/".join(map(str, context.idempotency_key)),
        )
        payload = json.dumps(subtask, ensure_ascii=False).encode("utf-8", "surrogatepass")
        try:
            return TaskResult(
                run_command(self.argv, payload, cwd=self.cwd, env=env, timeout=context.timeout)
            )
        except CannotStart as exc:
            raise PermanentFailure(str(exc)) from None
        except CommandFailed as exc:
            raise AttemptFailed(str(exc)) from None

    @staticmethod
    def interrupt() -> None:
        """Stop every command a :class:`CommandWorker` runs in this process: SIGTERM to
        each one's process group, SIGKILL to those still there after a second. The executor
        calls it when its run is interrupted."""
        with _LIVE_GUARD:
            live = list(_LIVE)
        for process in live:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 1.0
        for process in live:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill_group(process)


class CannotStart(Exception):
    """:func:`run_command` could not start the command (its message says why)."""


class CommandFailed(Exception):
    """The command of :func:`run_command` exited non-zero, died, or ran out of time."""


def run_command(
    argv: Tuple[str, ...],
    payload: bytes,
    *,
    cwd: Optional[str],
    env: Mapping[str, str],
    timeout: Optional[float],
) -> str:
    """Run ``argv`` (no shell, its own process group) with ``payload`` on standard input;
    the last non-blank line of its standard output (or ``"<command> exited 0"``).

    :class:`CannotStart` if it cannot be started; :class:`CommandFailed` naming the exit
    status and the end of standard error if it fails, or when it runs past ``timeout``
    (its whole process group is killed then). A child it leaves behind holding its output
    open is killed :data:`PIPE_GRACE` seconds after it exits; so is the group when the
    caller is interrupted.
    """
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,  # its own process group: a timeout kills it all
        )
    except OSError as exc:
        raise CannotStart(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from None
    with _LIVE_GUARD:
        _LIVE.add(process)
    try:
        out, err = _communicate(process, payload, timeout, argv[0])
    except BaseException:
        _kill_group(process)
        process.wait()
        raise
    finally:
        with _LIVE_GUARD:
            _LIVE.discard(process)
    if process.returncode != 0:
        tail = err.decode("utf-8", "replace").strip()[-_TAIL:]
        status = process.returncode
        what = f"killed by signal {-status}" if status < 0 else f"exited {status}"
        raise CommandFailed(f"{argv[0]} {what}" + (f": {tail}" if tail else ""))
    lines = [line.strip() for line in out.decode("utf-8", "replace").splitlines()]
    return next((line for line in reversed(lines) if line), f"{argv[0]} exited 0")


def _communicate(
    process: subprocess.Popen[bytes], payload: bytes, timeout: Optional[float], name: str
) -> Tuple[bytes, bytes]:
    """The command's output once it has exited. A child it left behind holding the pipes
    open gets :data:`PIPE_GRACE` seconds, then the process group is killed (what was
    written is kept); past ``timeout`` the group is killed and :class:`CommandFailed`."""
    deadline = None if timeout is None else time.monotonic() + timeout
    exited_at: Optional[float] = None
    send: Optional[bytes] = payload
    while True:
        try:
            return process.communicate(send, timeout=_POLL)
        except subprocess.TimeoutExpired:
            send = None  # the input is sent once; output read so far is kept
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            _kill_group(process)
            process.communicate()
            raise CommandFailed(f"{name} ran longer than {timeout:g} s and was killed") from None
        if process.poll() is not None:
            exited_at = now if exited_at is None else exited_at
            if now - exited_at >= PIPE_GRACE:
                _kill_group(process)
                return process.communicate()


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # it is gone already
        os.killpg(process.pid, signal.SIGKILL)

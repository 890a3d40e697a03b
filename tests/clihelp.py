"""Helpers the CLI tests share: run ``stageflow`` in-process, or in a fresh interpreter to
see what a command imports."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Sequence, Tuple

import stageflow
from stageflow.cli import main

TRACEBACK = "Traceback (most recent call last)"

# Not threading: on Python 3.8, argparse itself imports it (through shutil).
HEAVY = ("attr", "attrs", "cattrs", "jsonschema", "transitions")


class Result(NamedTuple):
    code: int
    out: str
    err: str


def cli(root: Path, *argv: str) -> Result:
    """``stageflow ARGV --root ROOT`` in-process; never a traceback."""
    out, err = io.StringIO(), io.StringIO()
    code = main([*argv, "--root", str(root)], out=out, err=err)
    result = Result(code, out.getvalue(), err.getvalue())
    assert TRACEBACK not in result.out + result.err, result
    return result


def cli_json(root: Path, *argv: str) -> Tuple[int, Dict[str, Any]]:
    """The exit code and the one JSON document ``--json`` prints on stdout."""
    result = cli(root, *argv, "--json")
    document = json.loads(result.out)  # exactly one JSON document on stdout
    assert isinstance(document, dict)
    return result.code, document


def heavy_imports(root: Path, argv: Sequence[str]) -> Tuple[int, List[str]]:
    """Run ``stageflow ARGV --json --root ROOT`` in a fresh interpreter: its exit code and
    the :data:`HEAVY` modules it imported."""
    source = os.path.dirname(os.path.dirname(os.path.abspath(stageflow.__file__)))
    script = (
        "import io, json, sys\n"
        "from stageflow.cli import main\n"
        f"code = main({list(argv)!r} + ['--json', '--root', sys.argv[1]], out=io.StringIO())\n"
        f"print(json.dumps([code, sorted(m for m in {HEAVY!r} if m in sys.modules)]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(root)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": source},
        timeout=60,
        check=True,
    )
    code, heavy = json.loads(done.stdout)
    return code, heavy

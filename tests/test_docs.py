"""The documentation is tested: its Python examples run, and its CLI reference is complete.

* Every fenced ```` ```python ```` block of ``README.md`` and ``docs/*.md`` runs against the
  current code. The blocks of one file run in order, in one namespace, inside a fresh
  temporary folder that is both the working folder and ``STAGEFLOW_ROOT``. Blocks that must
  not run are fenced as ```` ```pycon ```` or ```` ```text ````.
* Every ``stageflow ...`` command named in a heading of ``docs/cli.md`` exists (its
  ``--help`` exits 0), and every command the parser knows has such a heading.
* Every ``$ stageflow ...`` sample of ``docs/cli.md`` is a command line the parser accepts,
  unless its sample output is the parser's own usage error.
"""

from __future__ import annotations

import argparse
import io
import re
import shlex
from contextlib import redirect_stdout
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

from stageflow import MemoryStore, Orchestrator, UsageError
from stageflow.cli import build_parser, main
from stageflow.testing import FakeClock

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = sorted(
    [ROOT / "README.md", *(ROOT / "docs").glob("*.md")],
    key=lambda p: p.relative_to(ROOT).as_posix(),
)
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`\n]*)$")


def _closes(line: str, fence: str) -> bool:
    """True if ``line`` closes a block opened with ``fence`` (same character, at least as long,
    no info string)."""
    closing = FENCE.match(line)
    return bool(
        closing
        and closing.group("fence")[0] == fence[0]
        and len(closing.group("fence")) >= len(fence)
        and not closing.group("info").strip()
    )


def code_blocks(text: str, language: str) -> List[Tuple[int, str]]:
    """``(first line number, source)`` of every fenced block whose info string starts with
    ``language``; the fence's indentation is removed from the block's lines."""
    blocks: List[Tuple[int, str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence = opening.group("indent"), opening.group("fence")
        info = opening.group("info").strip().split()
        body: List[str] = []
        i += 1
        while i < len(lines) and not _closes(lines[i], fence):
            line = lines[i]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            i += 1
        start = i - len(body) + 1  # 1-based number of the block's first line
        if info and info[0] == language:
            blocks.append((start, "\n".join(body) + "\n"))
        i += 1
    return blocks


def _doc_id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_the_documentation_files_exist() -> None:
    names = {_doc_id(p) for p in DOC_FILES}
    for required in (
        "README.md",
        "docs/index.md",
        "docs/tutorial.md",
        "docs/concepts.md",
        "docs/cli.md",
        "docs/testing.md",
        "docs/storage.md",
        "docs/architecture.md",
    ):
        assert required in names


def test_the_block_finder_reads_fences() -> None:
    text = "a\n```python\nx = 1\n```\n```pycon\n>>> y\n```\n  ```python\n  z = 2\n  ```\n"
    assert code_blocks(text, "python") == [(3, "x = 1\n"), (9, "z = 2\n")]


def _python_blocks(path: Path) -> List[Tuple[int, str]]:
    return code_blocks(path.read_text(encoding="utf-8"), "python")


WITH_EXAMPLES = [path for path in DOC_FILES if _python_blocks(path)]


def test_the_main_pages_have_tested_examples() -> None:
    with_examples = {_doc_id(path) for path in WITH_EXAMPLES}
    for name in ("README.md", "docs/index.md", "docs/tutorial.md", "docs/concepts.md"):
        assert name in with_examples
    assert "docs/testing.md" in with_examples
    assert "docs/storage.md" in with_examples


@pytest.mark.parametrize("path", WITH_EXAMPLES, ids=_doc_id)
def test_python_examples_run(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = _python_blocks(path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STAGEFLOW_ROOT", str(tmp_path))
    monkeypatch.delenv("STAGEFLOW_ACTOR", raising=False)
    namespace: Dict[str, object] = {"__name__": "__docs__"}
    for line, source in blocks:
        # Pad with newlines so tracebacks point at the line in the Markdown file.
        code = compile("\n" * (line - 1) + source, _doc_id(path), "exec")
        exec(code, namespace)


def test_the_documented_fixtures_fit_together(
    stageflow_orchestrator: Orchestrator,
    stageflow_clock: FakeClock,
    stageflow_store: MemoryStore,
    tmp_path: Path,
) -> None:
    """docs/testing.md describes the pytest fixtures; the plugin must provide them so."""
    assert stageflow_orchestrator.root == tmp_path
    assert stageflow_orchestrator.store is stageflow_store
    assert stageflow_orchestrator.clock is stageflow_clock
    assert stageflow_orchestrator.actor == "tester"


# -- the CLI reference -------------------------------------------------------------------------

HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*$")
COMMAND = re.compile(r"`(?P<command>stageflow(?: [a-z][a-z-]*)*)")


def documented_commands() -> List[List[str]]:
    """The command words (``["stage", "init"]``) of every ``stageflow ...`` heading."""
    path = ROOT / "docs" / "cli.md"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    in_fence = False
    found: List[List[str]] = []
    for line in text.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        heading = HEADING.match(line)
        if in_fence or not heading:
            continue
        for match in COMMAND.finditer(heading.group("title")):
            words = match.group("command").split()[1:]
            if words and words not in found:
                found.append(words)
    return found


def parser_commands() -> Set[Tuple[str, ...]]:
    """Every command path the parser knows: ``("demo",)``, ``("stage", "init")``, ..."""

    def walk(parser: argparse.ArgumentParser, prefix: Tuple[str, ...]) -> Set[Tuple[str, ...]]:
        paths: Set[Tuple[str, ...]] = set()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    sub_paths = walk(sub, (*prefix, name))
                    paths |= sub_paths or {(*prefix, name)}
        return paths

    return walk(build_parser(), ())


def test_the_cli_reference_names_commands() -> None:
    assert ["stage", "init"] in documented_commands()


@pytest.mark.parametrize("words", documented_commands(), ids=" ".join)
def test_every_documented_command_exists(words: List[str]) -> None:
    with pytest.raises(SystemExit) as exited, redirect_stdout(io.StringIO()) as out:
        main([*words, "--help"])
    assert exited.value.code == 0
    assert "usage: stageflow " + " ".join(words) in " ".join(out.getvalue().split())


def test_every_command_is_documented() -> None:
    documented = {tuple(words) for words in documented_commands()}
    missing = sorted(" ".join(path) for path in parser_commands() - documented)
    assert not missing, f"docs/cli.md has no heading for: {', '.join(missing)}"


SAMPLE = re.compile(r"^\$ (?P<command>stageflow(?: .*)?)$")
PARSER_ERRORS = ("the following arguments are required", "unrecognized arguments")


def cli_samples() -> List[Tuple[List[str], str]]:
    """``(argv, output)`` of every ``$ stageflow ...`` sample in ``docs/cli.md``."""
    path = ROOT / "docs" / "cli.md"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    samples: List[Tuple[List[str], List[str]]] = []
    for _, block in code_blocks(text, "text"):
        for line in block.splitlines():
            sample = SAMPLE.match(line)
            if sample:
                samples.append((shlex.split(sample.group("command"))[1:], []))
            elif samples:
                samples[-1][1].append(line)
    return [(argv, "\n".join(output)) for argv, output in samples]


def test_the_cli_reference_has_samples() -> None:
    assert len(cli_samples()) >= 20


@pytest.mark.parametrize(
    ("argv", "output"),
    [pytest.param(argv, output, id=" ".join(argv)) for argv, output in cli_samples()],
)
def test_every_cli_sample_parses(argv: List[str], output: str) -> None:
    parser = build_parser(argv)
    if any(error in output for error in PARSER_ERRORS):
        with pytest.raises(UsageError):
            parser.parse_args(argv)
    else:
        parser.parse_args(argv)

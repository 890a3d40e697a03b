"""Pieces the command groups share: argument types, and adding a group of commands.

Imports nothing but argparse (the CLI's start-up path).
"""

from __future__ import annotations

import argparse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Tuple

    Command = Tuple[Callable[..., int], str, Callable[[argparse.ArgumentParser], None]]


def integer_at_least(low: int) -> Callable[[str], int]:
    """An argument type: an integer >= ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, not {text!r}")
        return value

    return parse


def seconds(text: str) -> float:
    """An argument type: a finite number of seconds >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, not {text!r}")
    return value


def add_group(
    groups: Any,
    group: str,
    help_text: str,
    commands: Dict[str, Command],
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Add ``stageflow GROUP COMMAND`` for every ``name -> (handler, help, arguments)``."""
    parser = groups.add_parser(group, help=help_text)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", prog=f"stageflow {group}")
    for name, (handler, command_help, arguments) in commands.items():
        command = subparsers.add_parser(
            name, help=command_help, description=command_help, prog=f"stageflow {group} {name}"
        )
        arguments(command)
        common(command)
        command.set_defaults(handler=handler)

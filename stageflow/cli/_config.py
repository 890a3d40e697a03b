"""``stageflow config show``: the effective configuration and where each value came from."""

from __future__ import annotations

import argparse
import json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    from . import Console


def _show(ns: argparse.Namespace, console: Console) -> int:
    from ..config import load_config

    config = load_config(ns.root, overrides=ns.set or ())
    document = config.to_dict()

    def text() -> str:
        layers = ["defaults"] + [
            f"{layer} {path}" + ("" if exists else " (none)")
            for layer, path, exists in config.files
        ]
        if ns.set:
            layers.append("overrides")
        lines = ["Layers, lowest first: " + "; ".join(layers)]
        for path, layer in config.sources.items():
            value = json.dumps(config.get(path), ensure_ascii=False)
            lines.append(f"  {path} = {value}  ({layer})")
        lines += [f"warning: {warning}" for warning in config.warnings]
        return "\n".join(lines)

    console.emit(document, text)
    return 0


def _add_show(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="a runtime override, such as executor.workers=8 (repeatable; VALUE read as JSON "
        "when it is JSON)",
    )


def register(groups: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``stageflow config ...``."""
    from ._args import add_group

    help_text = "the effective configuration, and where each value came from"
    add_group(
        groups,
        "config",
        "the layered configuration",
        {"show": (_show, help_text, _add_show)},
        common,
    )

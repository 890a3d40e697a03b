"""Example documents shipped with stageflow.

:data:`ORDER_MANAGEMENT` is the seed's worked example (order management): the architecture
contexts, the story map, the prioritized backlog, one contract and the task files of the
``order-management-mvp`` feature, verbatim. ``stageflow demo`` walks a feature through the
8 stages with them (see :mod:`stageflow.demo`).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ORDER_MANAGEMENT"]

ORDER_MANAGEMENT = Path(__file__).resolve().parent / "order_management"
"""The folder of the order-management example (``README.md`` there lists its files)."""

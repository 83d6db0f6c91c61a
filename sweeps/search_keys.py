"""The spec's `search:` key: how a sweep picks its trials among the spec's cells.

    search:
      kind: adaptive        # grid (default: every cell) or adaptive (datavsmath.sweeps.adaptive)
      target: {acc: 0.85}   # the crossings to pin down: one value in (0, 1) per metric
      tolerance: 0.15       # stop when each crossing's 95 % interval is within ±15 % of it
      budget: 60            # at most this many trials

`target` is required for an adaptive search and refused for a grid. The same check serves the
API's `search=` keyword (`check_search`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from datavsmath.trainables.checks import (
    AT_LEAST_ONE,
    UNIT_OPEN,
    UNIT_OPEN_LEFT,
    check_choice,
    check_int,
    check_keys,
    check_number,
    echo,
)
from datavsmath.trainables.metrics import METRICS

SEARCH_KINDS = ("grid", "adaptive")
SEARCH_KEYS = ("kind", "target", "tolerance", "budget")
# Limits as data: the relative half-width that counts as pinned down, and the trial budget.
TOLERANCE_RANGE = UNIT_OPEN_LEFT   # (0, 1]
BUDGET_RANGE = AT_LEAST_ONE        # [1, inf)
TARGET_RANGE = UNIT_OPEN           # (0, 1)
DEFAULT_TOLERANCE = 0.15
DEFAULT_BUDGET = 60
GRID_SEARCH: dict[str, Any] = {"kind": "grid"}


def check_search(raw: Any, *, name: str = "search") -> dict[str, Any]:
    """The normal form of a `search:` mapping: {kind: grid} or {kind: adaptive, target: {metric:
    value}, tolerance, budget} with the defaults (DEFAULT_TOLERANCE, DEFAULT_BUDGET) filled in.
    None means a grid. Raises ValueError naming the key, allowed values and value."""
    if raw is None:
        return dict(GRID_SEARCH)
    if not isinstance(raw, Mapping):
        raise ValueError(f"{name} must be a mapping with keys {', '.join(SEARCH_KEYS)}, got {echo(raw)}")
    check_keys(name, sorted(raw, key=str), SEARCH_KEYS)
    kind = check_choice(f"{name}.kind", raw.get("kind", "grid"), SEARCH_KINDS)
    if kind == "grid":
        extra = sorted(set(raw) - {"kind"})
        if extra:
            raise ValueError(f"{name}.{extra[0]} applies only to kind: adaptive, got kind: grid")
        return dict(GRID_SEARCH)
    if "target" not in raw:
        raise ValueError(f"{name}.target is required for kind: adaptive, e.g. {{acc: 0.85}}")
    return {"kind": kind, "target": _check_target(raw["target"], name=f"{name}.target"),
            "tolerance": check_number(f"{name}.tolerance", raw.get("tolerance", DEFAULT_TOLERANCE), TOLERANCE_RANGE),
            "budget": check_int(f"{name}.budget", raw.get("budget", DEFAULT_BUDGET), BUDGET_RANGE)}


def _check_target(raw: Any, *, name: str) -> dict[str, float]:
    if not isinstance(raw, Mapping) or not raw:
        raise ValueError(f"{name} must be a mapping metric -> value, e.g. {{acc: 0.85}}, got {echo(raw)}")
    return {check_choice(name, metric, METRICS): check_number(f"{name}.{metric}", value, TARGET_RANGE)
            for metric, value in raw.items()}


def is_adaptive(search: Mapping[str, Any]) -> bool:
    return search.get("kind") == "adaptive"

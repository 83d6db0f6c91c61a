"""What the measured data can support: the limits every estimate of the analysis shares.

- An interval needs at least MIN_SEEDS_FOR_INTERVAL seeds behind it; with fewer, a table
  says "n seeds: no interval" (a percentile bootstrap over two seeds has three distinct
  draws and gives a misleadingly narrow range).
- A size read off a learning curve is trusted up to EXTRAPOLATION_LIMIT times the largest
  size swept; past it, it is "beyond the data" with that bound, never a number. A route (and
  a stated current n) is bounded by the smaller of that and the dataset's training-set size
  (`route_bound`), and says which of the two (`bound_text`).
"""

from __future__ import annotations

import numpy as np

MIN_SEEDS_FOR_INTERVAL = 3
EXTRAPOLATION_LIMIT = 4.0
BEYOND = "beyond the data"
# Which limit a route's or a current set's bound is (routes' bound_by column).
BY_DATASET = "the dataset's training rows"
BY_CURVE = f"{EXTRAPOLATION_LIMIT:g}× the largest size swept"


def has_interval(n_seeds: int) -> bool:
    """Whether `n_seeds` replicates are enough for an interval."""
    return int(n_seeds) >= MIN_SEEDS_FOR_INTERVAL


def no_interval_text(n_seeds: int) -> str:
    """What a table says in place of an interval: "2 seeds: no interval"."""
    return f"{int(n_seeds)} seed{'s' if int(n_seeds) != 1 else ''}: no interval"


def size_bound(largest_swept: float) -> float:
    """The largest size a curve may be read at: EXTRAPOLATION_LIMIT x the largest swept size."""
    return EXTRAPOLATION_LIMIT * float(largest_swept)


def is_beyond(n: np.ndarray | float, *, largest_swept: float) -> np.ndarray:
    """Elementwise: finite sizes past size_bound(largest_swept)."""
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.isfinite(n) & (n > size_bound(largest_swept))


def route_bound(largest_swept: float, n_total: float) -> tuple[float, str]:
    """(bound, which) of a route or a current set: the smaller of size_bound(largest_swept)
    and the dataset's training-set size n_total, and which of the two it is (BY_DATASET or
    BY_CURVE; the dataset's where they are equal)."""
    limit = size_bound(largest_swept)
    return (float(n_total), BY_DATASET) if n_total <= limit else (limit, BY_CURVE)


def bound_text(bound: float, by: str | None = None) -> str:
    """"beyond the data (more than the dataset's 1,437 training rows)" or "beyond the data
    (more than 4× the largest size swept: 1,820 labels)": a size past what the data (`by`
    BY_DATASET) or its curves (BY_CURVE) support; without `by`, "(more than 426 labels)"."""
    if by == BY_DATASET:
        return f"{BEYOND} (more than the dataset's {bound:,.0f} training rows)"
    if by == BY_CURVE:
        return f"{BEYOND} (more than {BY_CURVE}: {bound:,.0f} labels)"
    return f"{BEYOND} (more than {bound:,.0f} labels)"

"""What the measured data can support: the limits every estimate of the analysis shares.

- An interval needs at least MIN_SEEDS_FOR_INTERVAL seeds behind it; with fewer, a table
  says "n seeds: no interval" (a percentile bootstrap over two seeds has three distinct
  draws and gives a misleadingly narrow range).
- A size read off a learning curve is trusted up to EXTRAPOLATION_LIMIT times the largest
  size swept; past it, it is "beyond the data" with that bound, never a number.
"""

from __future__ import annotations

import numpy as np

MIN_SEEDS_FOR_INTERVAL = 3
EXTRAPOLATION_LIMIT = 4.0
BEYOND = "beyond the data"


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


def bound_text(bound: float) -> str:
    """"beyond the data (more than 426 labels)": a size past what the data or its curves support."""
    return f"{BEYOND} (more than {bound:,.0f} labels)"

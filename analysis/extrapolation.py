"""How far past its largest size a learning curve reaches a target: a model learned on real
curves, with its quantiles and the chance that the target is reached within the limit.

Parametric families extrapolate a curve by its own shape, and on LCDB 1.0's real curves
(benchmarks/bench_lcdb.py) that is worse than the rule of thumb "4x your current size": the
families flatten too early or never, and their seed-noise intervals miss the error of the
family itself. This module instead predicts log2(crossing / largest size) from a few
features of the observed part of the curve (the gap to the target, slopes per octave in
log n, the noise; `features`), with gradient-boosted quantile trees fitted on the curves of
LCDB datasets with an even OpenML id (benchmarks/build_extrapolation.py rebuilds them, into
`extrapolation_model.json` beside this file), and calibrated there so that the 95 % interval
holds the truth 95 % of the time. A second model gives P(reached within `EXTRAPOLATION_LIMIT`
x the largest size).

Arrays in, arrays out: the features of one curve for several targets, and the predictions
for a (m, F) feature array.
"""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

MODEL_FILE = Path(__file__).with_name("extrapolation_model.json")
# The feature columns, in order (`features`).
FEATURES = ("gap", "gap_last", "slope1", "slope2", "slope3", "slope12", "error", "noise", "scatter",
            "octaves_linear", "octaves_linear1", "octaves_linear2", "share", "share_rise", "gap_z", "octaves_seen",
            "n_seeds", "rise3", "rise_all")
# The quantile levels the model predicts (log2 of crossing / largest size).
QUANTILES = (0.025, 0.25, 0.5, 0.75, 0.975)
CLIP = 20.0  # a linear extrapolation past 2^20 x says "far"; beyond that the number means nothing


def _seed_mean(grid: np.ndarray) -> np.ndarray:
    present = np.isfinite(grid)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(present, grid, 0.0).sum(axis=0) / present.sum(axis=0)


def _line(log_n: np.ndarray, values: np.ndarray, low: float, high: float) -> tuple[float, float, float]:
    """(value at `high`, slope per octave, RMS residual) of the least-squares line through the
    points with log2 n in [low, high]; NaN where fewer than two sizes lie there."""
    inside = (log_n >= low - 1e-9) & (log_n <= high + 1e-9) & np.isfinite(values)
    if np.unique(log_n[inside]).size < 2:
        return np.nan, np.nan, np.nan
    x, y = log_n[inside], values[inside]
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (slope * x + intercept)
    return float(slope * high + intercept), float(slope), float(np.sqrt(np.mean(resid ** 2)))


def curve_features(n: np.ndarray, grid: np.ndarray) -> dict[str, float]:
    """The target-free features of one curve: n (k,) sizes ascending, grid (n_seeds, k) the
    metric per seed (NaN where absent)."""
    n = np.asarray(n, dtype=float)
    grid = np.atleast_2d(np.asarray(grid, dtype=float))
    mean = _seed_mean(grid)
    keep = np.isfinite(mean)
    n, grid, mean = n[keep], grid[:, keep], mean[keep]
    top = float(np.log2(n[-1]))
    log_all = np.broadcast_to(np.log2(n), grid.shape)[np.isfinite(grid)]
    points = grid[np.isfinite(grid)]
    fit1 = _line(log_all, points, top - 1, top)
    fit2 = _line(log_all, points, top - 2, top - 1)
    fit3 = _line(log_all, points, top - 3, top - 2)
    fit12 = _line(log_all, points, top - 2, top)
    last = grid[:, -1][np.isfinite(grid[:, -1])]
    level = fit12[0] if np.isfinite(fit12[0]) else float(mean[-1])
    below = np.interp(top - 3, np.log2(n), mean) if top - 3 >= np.log2(n[0]) else np.nan
    return {"level": level, "last": float(mean[-1]), "slope1": fit1[1], "slope2": fit2[1], "slope3": fit3[1],
            "slope12": fit12[1], "error": 1 - level,
            "noise": float(np.std(last, ddof=1) / np.sqrt(last.size)) if last.size > 1 else np.nan,
            "scatter": fit12[2], "octaves_seen": top - float(np.log2(n[0])),
            "n_seeds": float(np.isfinite(grid).sum(axis=0).max()), "rise3": level - below,
            "rise_all": level - float(mean[0])}


def features(n: np.ndarray, grid: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(m, len(FEATURES)) features of the curve (n (k,), grid (n_seeds, k)) for m thresholds."""
    c = curve_features(n, grid)
    t = np.atleast_1d(np.asarray(thresholds, dtype=float))
    gap = t - c["level"]
    with np.errstate(divide="ignore", invalid="ignore"):
        linear = {f"octaves_linear{k}": np.where(c[s] > 0, np.clip(gap / c[s], -CLIP, CLIP), CLIP)
                  for k, s in (("", "slope12"), ("1", "slope1"), ("2", "slope2"))}
        share = gap / c["error"] if c["error"] > 0 else np.full(t.shape, np.nan)
        share_rise = gap / c["rise_all"] if c["rise_all"] > 0 else np.full(t.shape, np.nan)
        gap_z = gap / np.nanmax([c["scatter"], c["noise"], 1e-4])
    columns = {"gap": gap, "gap_last": t - c["last"], "share": share, "share_rise": share_rise, "gap_z": gap_z,
               **linear}
    return np.column_stack([columns[f] if f in columns else np.full(t.shape, c[f]) for f in FEATURES])


@dataclass(frozen=True)
class Model:
    """The fitted models: the quantile trees (log2 of crossing / largest size at QUANTILES),
    the classifier of P(reached within the limit), and the calibration: the half-widths of
    the quantiles about the median are multiplied by `widen` (fitted on held-out even-id
    curves so that the outer ones hold 95 %)."""

    quantiles: Any  # xgboost.Booster: xgboost is imported only when a crossing is extrapolated
    reach: Any
    widen: float
    limit: float


@lru_cache(maxsize=1)
def load(path: str = str(MODEL_FILE)) -> Model:
    """The shipped model (both boosters in xgboost's UBJSON format, gzipped and base64-encoded in a
    JSON file beside the calibration), loaded once."""
    import xgboost as xgb

    with open(path) as f:
        document = json.load(f)
    boosters = []
    for key in ("quantiles", "reach"):
        booster = xgb.Booster()
        booster.load_model(bytearray(gzip.decompress(base64.b64decode(document[key]))))
        boosters.append(booster)
    meta = document["datavsmath"]
    if tuple(meta["features"]) != FEATURES:
        raise ValueError(f"{path} was built for other features: rebuild it with benchmarks/build_extrapolation.py")
    return Model(boosters[0], boosters[1], float(meta["widen"]), float(meta["limit"]))


def predict(model: Model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(quantiles (m, len(QUANTILES)) of log2(crossing / largest size), calibrated and sorted;
    P(reached within the limit) (m,)) for features x (m, len(FEATURES))."""
    import xgboost as xgb

    matrix = xgb.DMatrix(np.asarray(x, dtype=float), feature_names=list(FEATURES))
    raw = np.sort(np.asarray(model.quantiles.predict(matrix)).reshape(len(x), len(QUANTILES)), axis=1)
    median = raw[:, [QUANTILES.index(0.5)]]
    calibrated = median + model.widen * (raw - median)
    return calibrated, np.asarray(model.reach.predict(matrix)).reshape(len(x))


def quantile_at(q: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The predicted quantile function of one row q (len(QUANTILES),) at levels u (any shape),
    linear between the predicted levels and beyond them."""
    levels = np.array(QUANTILES)
    u = np.asarray(u, dtype=float)
    inside = np.interp(u, levels, q)
    low = q[0] + (u - levels[0]) * (q[1] - q[0]) / (levels[1] - levels[0])
    high = q[-1] + (u - levels[-1]) * (q[-1] - q[-2]) / (levels[-1] - levels[-2])
    return np.where(u < levels[0], low, np.where(u > levels[-1], high, inside))

"""Rebuild analysis/extrapolation_model.json: the model behind `auto`'s extrapolation, fitted on
the LCDB curves of datasets with an even OpenML id only (the odd ones are for
benchmarks/bench_lcdb.py to report on).

Rows: every case of the protocol (benchmarks/lcdb.py: targets and their truth) at the
cut-offs TRAIN_CUTOFFS, N/2 to N/32 in steps of sqrt 2 (a user's curve stops anywhere; with
only N/16, N/8 and N/4 the 95 % quantiles held 86 % of the truths at N/16 and 95 % at N/8,
with these 93-96 % at each), seen with all its 5 seeds and again with 1 and with 2 of them
drawn at random, so that the model knows how noise looks with fewer seeds. The quantile trees learn
log2(truth / largest size seen) on the targets the curve reaches; the classifier learns
whether the target is reached within EXTRAPOLATION_LIMIT x the largest size, on all targets.
The calibration: models fitted on three quarters of the even datasets predict the fourth
(each quarter in turn); `widen` scales the quantiles' spread about the median so that the 95 %
interval holds 95 % of those held-out truths.

    python benchmarks/build_extrapolation.py            # writes analysis/extrapolation_model.json
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import sys
import time
import zlib
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lcdb  # noqa: E402

from datavsmath.analysis import extrapolation  # noqa: E402
from datavsmath.analysis.estimate_limits import EXTRAPOLATION_LIMIT  # noqa: E402

PARAMS = {"tree_method": "hist", "max_depth": 5, "learning_rate": 0.1, "min_child_weight": 20, "subsample": 0.8,
          "colsample_bynode": 0.8, "seed": 0}
ROUNDS = 200
SEED_VARIANTS = (None, 1, 2)  # all seeds, then that many drawn at random
TRAIN_CUTOFFS = tuple(2 ** (k / 2) for k in range(2, 11))
FOLDS = 4


def case_rows(curve: lcdb.Curve) -> list[tuple]:
    """(openmlid, cutoff, seeds, largest, target, truth, *features) for every target of every
    case of `curve` and every seed variant."""
    rng = np.random.default_rng(zlib.crc32(f"{curve.openmlid}/{curve.learner}".encode()))
    out = []
    for case in lcdb.cases(curve, cutoffs=TRAIN_CUTOFFS):
        n_seeds = case.grid.shape[0]
        for variant in SEED_VARIANTS:
            if variant is not None and variant >= n_seeds:
                continue
            rows = np.arange(n_seeds) if variant is None else rng.choice(n_seeds, variant, replace=False)
            x = extrapolation.features(case.n, case.grid[rows], case.targets)
            out += [(curve.openmlid, case.cutoff, len(rows), case.largest, t, truth, *xi)
                    for t, truth, xi in zip(case.targets, case.truth, x)]
    return out


def table(parity: str, *, processes: int = 2) -> pd.DataFrame:
    """The rows (`case_rows`) of every curve of one parity, with y = log2(truth / largest)."""
    curves = list(lcdb.curves(lcdb.load(), parity=parity))
    with Pool(processes) as pool:
        rows = [r for part in pool.imap(case_rows, curves, chunksize=20) for r in part]
    df = pd.DataFrame(rows, columns=["openmlid", "cutoff", "seeds", "largest", "target", "truth",
                                     *extrapolation.FEATURES])
    with np.errstate(divide="ignore"):
        df["y"] = np.log2(df["truth"] / df["largest"])
    return df


def fit(df: pd.DataFrame, *, rounds: int = ROUNDS) -> tuple[object, object]:
    """(quantile booster, reach booster) fitted to rows of `table`."""
    import xgboost as xgb

    features = list(extrapolation.FEATURES)
    reached = np.isfinite(df["y"])
    quantiles = xgb.train({**PARAMS, "objective": "reg:quantileerror",
                           "quantile_alpha": np.array(extrapolation.QUANTILES)},
                          xgb.DMatrix(df.loc[reached, features].to_numpy(float), label=df.loc[reached, "y"],
                                      feature_names=features), num_boost_round=rounds)
    within = (df["y"] <= np.log2(EXTRAPOLATION_LIMIT)).astype(float)
    reach = xgb.train({**PARAMS, "objective": "binary:logistic"},
                      xgb.DMatrix(df[features].to_numpy(float), label=within, feature_names=features),
                      num_boost_round=rounds // 2)
    return quantiles, reach


def widen(df: pd.DataFrame, *, rounds: int = ROUNDS) -> float:
    """The factor on the quantiles' spread about the median that makes the 95 % interval hold
    95 % of held-out truths: FOLDS folds of the even datasets, each predicted by a model fitted
    on the others."""
    folds = (df["openmlid"] // 2) % FOLDS
    lows, highs, medians, truths = [], [], [], []
    for fold in range(FOLDS):
        quantiles, reach = fit(df[folds != fold], rounds=rounds)
        held = df[(folds == fold) & np.isfinite(df["y"])]
        model = extrapolation.Model(quantiles, reach, 1.0, EXTRAPOLATION_LIMIT)
        q, _ = extrapolation.predict(model, held[list(extrapolation.FEATURES)].to_numpy(float))
        medians.append(q[:, extrapolation.QUANTILES.index(0.5)])
        lows.append(q[:, 0])
        highs.append(q[:, -1])
        truths.append(held["y"].to_numpy())
    low, high, median, truth = (np.concatenate(a) for a in (lows, highs, medians, truths))
    factors = np.geomspace(0.5, 4.0, 200)
    cover = [np.mean((truth >= median + f * (low - median)) & (truth <= median + f * (high - median)))
             for f in factors]
    return float(factors[int(np.argmax(np.array(cover) >= 0.95))])


def save(path: Path, quantiles: object, reach: object, *, factor: float) -> None:
    """One JSON file: the calibration, and both boosters in xgboost's UBJSON format, gzipped, base64."""
    document = {"datavsmath": {"widen": factor, "limit": EXTRAPOLATION_LIMIT, "features": extrapolation.FEATURES,
                               "quantiles": extrapolation.QUANTILES,
                               "built_by": "benchmarks/build_extrapolation.py on LCDB 1.0, even OpenML ids"},
                **{key: base64.b64encode(gzip.compress(bytes(booster.save_raw("ubj")), mtime=0)).decode()
                   for key, booster in (("quantiles", quantiles), ("reach", reach))}}
    path.write_text(json.dumps(document, separators=(",", ":")))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=extrapolation.MODEL_FILE)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args(argv)
    start = time.time()
    df = table("even")
    print(f"{len(df):,} rows of even-id curves ({time.time() - start:.0f} s)", flush=True)
    factor = widen(df, rounds=args.rounds)
    print(f"calibration: quantile spread x {factor:.3f}", flush=True)
    quantiles, reach = fit(df, rounds=args.rounds)
    save(args.out, quantiles, reach, factor=factor)
    extrapolation.load.cache_clear()
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB) in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()

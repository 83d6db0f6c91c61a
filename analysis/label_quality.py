"""The quality of the user's own labels, estimated from the sweep, and accuracies corrected for
a test set whose labels are as noisy as the training labels.

`label_quality` reads the estimate that the trials of the repairs reading the cheap model
(prune, relabel, audit) record: `cleanlab_noise` (count.num_label_issues / n, on the
out-of-fold probabilities of the repair model, datavsmath.trainables.repair). (They record
`cleanlab_joint_noise`, estimate_joint's off-diagonal mass, too: its line over the damage
levels, read as additive, did worse on bench_better_labels' trials: 2 of 12 within 0.03.)

- raw: 1 - cleanlab_noise of the labels as given (damage_frac 0), the mean over seeds at the
  largest sample_frac that has them. cleanlab counts some hard but right labels as wrong, so
  it reads about 0.05 of noise on clean Fashion-MNIST (rf, 3000 rows).
- calibrated: the sweep damaged the same labels by known amounts d. Damage that lands on a
  label already wrong adds no wrong label, so the true share of wrong labels grows with d as
  eps + d (1 - eps), eps the share wrong as given (`random` damage also rights 1 in K - 1 of
  the wrong labels it hits: eps + d (1 - eps K / (K - 1))). If cleanlab's count is
  proportional to the true share near the labels as given (it misses some wrong labels, in
  the same proportion), its line a + b d through the counts at damage_frac 0 and at the
  smallest damage level swept has a = c eps and b = c (1 - eps kappa), kappa 1 or
  K / (K - 1): eps = a / (a kappa + b). Only the smallest level is read: at larger damage
  cleanlab's count bends (bench_better_labels: 7 of 12 cases within 0.03 with the smallest
  level, 4 of 12 with all of 0.1, 0.2, 0.3). Its 95 % interval comes from the line's (a, b)
  drawn from their t distribution: it holds the seeds' scatter, not the model's error.
  cleanlab's count also flags some right but hard labels, which no fit on the damage can
  tell from wrong ones.

The assumptions: the user's own label noise is like the damage swept (the same cheap model
finds both alike), the relation is proportional near the labels as given, and a trial's estimate does
not depend on the trial's model (it is the repair model's; trials that differ only in model or
repair are one measurement).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from datavsmath.analysis.aggregate import SWEPT_DAMAGED_MODES, finished
from datavsmath.trainables.checks import UNIT, check_number
from datavsmath.trainables.label_noise import corrected_accuracy

RAW_COLUMN = "cleanlab_noise"
CALIBRATED, RAW = "calibrated", "raw"
CI_LEVEL = 0.95


@dataclass(frozen=True)
class LabelQuality:
    """The labels' estimated quality (share right): estimate, its 95 % interval [low, high]
    (NaN without a calibration), raw (cleanlab's own figure), method (calibrated | raw) and
    what it rests on: the sample_frac, damage_mode and damage levels read, and the trials."""

    estimate: float
    low: float
    high: float
    raw: float
    method: str
    sample_frac: float
    damage_mode: str
    damage_fracs: tuple[float, ...]
    n_trials: int
    repair_model: str

    def describe(self) -> str:
        """One sentence: the estimate, its interval and how it was made."""
        if self.method == RAW:
            return (f"estimated quality {self.estimate:.3f}: cleanlab's raw figure (count.num_label_issues on "
                    f"{self.repair_model}'s out-of-fold probabilities, {self.n_trials} trials); no damaged trials to "
                    "calibrate it on")
        levels = ", ".join(f"{d:g}" for d in self.damage_fracs)
        interval = f" [{self.low:.3f}-{self.high:.3f}]" if np.isfinite(self.low) else " (no interval: 2 trials)"
        return (f"estimated quality {self.estimate:.3f}{interval} (cleanlab's raw figure "
                f"{self.raw:.3f}), calibrated on how cleanlab's estimate grew with the sweep's own {self.damage_mode} "
                f"damage ({levels}) over {self.n_trials} trials of {self.repair_model} at sample_frac "
                f"{self.sample_frac:g}")

    def to_frame(self) -> pd.DataFrame:
        """One row: estimate, low, high, raw, method, sample_frac, damage_mode, n_trials."""
        return pd.DataFrame([{"estimate": self.estimate, "low": self.low, "high": self.high, "raw": self.raw,
                              "method": self.method, "sample_frac": self.sample_frac,
                              "damage_mode": self.damage_mode, "n_trials": self.n_trials}])


def _measurements(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (sample_frac, damage_frac, damage_mode, seed) with cleanlab's estimates."""
    done = finished(df)
    if RAW_COLUMN not in done.columns:
        return done.head(0)
    rows = done[done[RAW_COLUMN].notna()]
    keys = ["sample_frac", "damage_frac", "damage_mode", "seed"]
    return rows.groupby(keys, as_index=False)[[RAW_COLUMN, "repair_model"]].first()


def _n_classes(df: pd.DataFrame) -> int:
    """K, the size of the trials' confusion matrices; ValueError when none records one."""
    matrices = [m for m in df["confusion"] if m is not None] if "confusion" in df.columns else []
    if not matrices:
        raise ValueError("label quality needs the class count: no trial records a confusion matrix; pass n_classes")
    return len(matrices[0])


def _noise_draws(x: np.ndarray, y: np.ndarray, *, kappa: float, n_draws: int = 4000,
                 random_state: int = 0) -> tuple[float, float, float]:
    """(eps, low, high) of eps = a / (a kappa + b) for the line a + b x fitted to y, its 95 %
    interval from (a, b) drawn from their fitted normal distribution (NaN with < 3 points)."""
    design = np.column_stack([np.ones_like(x), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    a, b = float(coef[0]), float(coef[1])
    eps = a / (a * kappa + b) if a * kappa + b > 0 else np.nan
    if len(x) < 3:
        return eps, np.nan, np.nan
    dof = len(x) - 2
    sigma2 = float(np.sum((y - design @ coef) ** 2) / dof)
    cov = sigma2 * np.linalg.inv(design.T @ design)
    rng = np.random.default_rng(random_state)
    # Student-t draws about the fit: normal deviations scaled by sqrt(dof / chi2(dof)).
    deviations = rng.multivariate_normal(np.zeros(2), cov, size=n_draws)
    draws = coef + deviations * np.sqrt(dof / rng.chisquare(dof, size=(n_draws, 1)))
    denominator = draws[:, 0] * kappa + draws[:, 1]
    eps_draws = np.where(denominator > 0, draws[:, 0] / np.where(denominator > 0, denominator, 1), np.nan)
    low, high = np.nanpercentile(eps_draws, [100 * (1 - CI_LEVEL) / 2, 100 * (1 + CI_LEVEL) / 2])
    return eps, float(low), float(high)


def label_quality(df: pd.DataFrame, *, n_classes: int | None = None) -> LabelQuality:
    """The quality of the labels as given, estimated from cleanlab's figures in the trials
    (module docstring): calibrated on the trials at damage_frac 0 and at the smallest damage
    level of the damage mode with the most levels, at the largest sample_frac that has
    undamaged ones; else cleanlab's raw figure. n_classes: K (default: the size of the trials'
    confusion matrices). ValueError when no finished trial of prune, relabel or audit has
    damage_frac 0."""
    rows = _measurements(df)
    clean = rows[rows["damage_frac"] == 0]
    if clean.empty:
        raise ValueError("label quality needs finished trials of a repair that reads the cheap model (prune, relabel "
                         "or audit) at damage_frac 0: they hold cleanlab's estimate of the labels as given")
    frac = float(clean["sample_frac"].max())
    at = rows[rows["sample_frac"] == frac]
    raw = 1.0 - float(at.loc[at["damage_frac"] == 0, RAW_COLUMN].mean())
    repair_model = str(at["repair_model"].iloc[0])
    damaged = at[(at["damage_frac"] > 0) & at["damage_mode"].isin(SWEPT_DAMAGED_MODES)]
    if damaged.empty:
        return LabelQuality(raw, np.nan, np.nan, raw, RAW, frac, "none", (0.0,), len(at), repair_model)
    mode = str(damaged.groupby("damage_mode")["damage_frac"].nunique().idxmax())
    damaged = damaged[damaged["damage_mode"] == mode]
    used = pd.concat([at[at["damage_frac"] == 0], damaged[damaged["damage_frac"] == damaged["damage_frac"].min()]])
    kappa = 1.0
    if mode == "random":  # random damage also rights 1 in K - 1 of the wrong labels it hits
        k = n_classes if n_classes is not None else _n_classes(df)
        kappa = k / (k - 1)
    noise, low_noise, high_noise = _noise_draws(used["damage_frac"].to_numpy(float),
                                                used[RAW_COLUMN].to_numpy(float), kappa=kappa)
    quality = float(np.clip(1.0 - noise, 0.0, 1.0))
    return LabelQuality(quality, float(np.clip(1.0 - high_noise, 0, 1)), float(np.clip(1.0 - low_noise, 0, 1)), raw,
                        CALIBRATED, frac, mode, tuple(sorted(set(used["damage_frac"].astype(float)))), len(used),
                        repair_model)


def corrected_for_test_quality(df: pd.DataFrame, *, test_quality: float, damage_mode: str = "random") -> pd.DataFrame:
    """`df` with `acc` corrected to what a clean test set would show when its test labels have
    quality `test_quality` in (0, 1] and noise like `damage_mode` (default random: symmetric),
    through the mode's transition matrix (trainables.label_noise.corrected_accuracy) on each
    trial's confusion counts; the measured accuracy is kept as `acc_measured`. Rows without
    a confusion matrix keep their accuracy."""
    test_quality = check_number("test_quality", test_quality, UNIT)
    out = df.copy()
    out["acc_measured"] = out["acc"]
    if test_quality == 1.0 or "confusion" not in out.columns:
        return out
    corrected = [corrected_accuracy(m, quality=test_quality, damage_mode=damage_mode) if m is not None else a
                 for m, a in zip(out["confusion"], out["acc"])]
    out["acc"] = np.asarray(corrected, dtype=float)
    return out

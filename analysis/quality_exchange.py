"""The exchange rate between data and quality: one learning-curve surface per (model,
damage_mode), acc(n, q) = curve(n · g(q)), with g(q) in (0, 1] the clean-equivalent share of
an observation at quality q (g(1) = 1), one g per swept quality level and the curve's
parameters shared by all levels.

"One observation at quality q is worth g(q) clean ones", so a target the clean curve reaches
at n_clean needs n_clean / g(q) observations at quality q, and d(num_obs)/d(quality) between
two levels follows from their g. Intervals are 95 % percentile bootstraps over seeds (seed
ids resampled jointly for every level). The surface is checked against the per-level fits
(datavsmath.analysis.curves.fit_curve of the same family on each level alone).

Reference lines for the synthetic damage modes, η = 1 - q the damaged share and K classes:
random damage spreads a damaged label over the K - 1 other classes, g = (1 - η·K/(K-1))²;
constant (pair) damage sends it to one class, g = (1 - 2η)² (Angluin and Laird's 1/(1 - 2η)²
sample-complexity factor, generalised); 0 where the labels carry no signal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from scipy import optimize

from datavsmath.analysis.aggregate import quality_rows
from datavsmath.analysis.curves import DEFAULT_CURVE, PARAMETRIC, check_curve, fit_curve, fit_family, fit_one
from datavsmath.analysis.estimate_limits import has_interval
from datavsmath.analysis.repair_effect import of_repair
from datavsmath.analysis.schema import num_obs
from datavsmath.analysis.sections import Item
from datavsmath.analysis.tables import DEFAULT_N_BOOT, _check, _interval, _seed_mean, seed_draws
from datavsmath.analysis.training_size import training_size
from datavsmath.trainables.damage import NO_DAMAGE
from datavsmath.trainables.repair import NO_REPAIR

# The surface's family when `auto` (or the chosen curve) is not a parametric family.
FALLBACK_FAMILY = "pow3"
# g is bounded below so that log g stays finite; a level worth less is "no signal".
G_FLOOR = 1e-4
# Bootstrap draws of the report's surface: each is a joint fit of every level, so fewer
# than the tables' 200 keep a report within seconds.
REPORT_N_BOOT = 50


def theory_g(quality: np.ndarray | float, *, damage_mode: str, n_classes: int) -> np.ndarray:
    """The reference g(q) of a synthetic damage mode (module docstring); NaN for other modes."""
    eta = 1 - np.asarray(quality, dtype=float)
    if damage_mode == "random":
        return np.clip(1 - eta * n_classes / (n_classes - 1), 0, None) ** 2
    if damage_mode == "constant":
        return np.clip(1 - 2 * eta, 0, None) ** 2
    return np.full(eta.shape, np.nan)


@dataclass(frozen=True)
class Surface:
    """A fitted surface: family, its parameters theta (in x = n / scale) and g per quality
    (best first, g[0] = 1 for quality 1.0)."""

    family: str
    theta: np.ndarray
    scale: float
    qualities: np.ndarray
    g: np.ndarray

    def predict(self, n: np.ndarray, quality_index: int) -> np.ndarray:
        return PARAMETRIC[self.family].value(np.asarray(n, dtype=float) * self.g[quality_index] / self.scale,
                                             self.theta)

    def clean_crossing(self, threshold: float) -> float:
        return PARAMETRIC[self.family].inverse(threshold, self.theta) * self.scale


def fit_surface(n: list[np.ndarray], means: list[np.ndarray], qualities: np.ndarray, *, family: str,
                start: Surface | None = None) -> Surface:
    """The surface through each level's mean curve (n[i], means[i]); qualities best first,
    qualities[0] = 1.0. start: a surface to warm-start from (one start), else the clean
    level's own fit with every g at 1 and at the theory-free guess 0.5."""
    spec = PARAMETRIC[family]
    scale = float(max(np.max(x) for x in n))
    lower = np.array([*spec.lower, *np.full(len(n) - 1, np.log(G_FLOOR))])
    upper = np.array([*spec.upper, *np.zeros(len(n) - 1)])

    def residual(p: np.ndarray) -> np.ndarray:
        g = np.exp(np.concatenate([[0.0], p[spec.n_params:]]))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                r = np.concatenate([spec.value(x * g[i] / scale, p[:spec.n_params]) - y
                                for i, (x, y) in enumerate(zip(n, means))])
        r = r[~np.isnan(np.concatenate(means))]
        return np.where(np.isfinite(r), r, 1e3)

    if start is not None:
        starts = [np.array([*start.theta, *np.log(start.g[1:])])]
    else:
        keep = np.isfinite(means[0])
        theta, _ = fit_family(family, n[0][keep] / scale, means[0][keep])
        starts = [np.array([*theta, *np.full(len(n) - 1, np.log(g0))]) for g0 in (0.9, 0.3)]
    best, best_cost = None, np.inf
    for p0 in starts:
        p0 = np.clip(p0, lower + 1e-9 * (upper - lower), upper - 1e-9 * (upper - lower))
        fit = optimize.least_squares(residual, p0, bounds=(lower, upper), method="trf", x_scale="jac",
                                     max_nfev=300)
        if fit.cost < best_cost:
            best, best_cost = fit.x, fit.cost
    assert best is not None
    g = np.exp(np.concatenate([[0.0], best[spec.n_params:]]))
    return Surface(family, best[:spec.n_params], scale, np.asarray(qualities, dtype=float), g)


@dataclass(frozen=True)
class _Data:
    """One (model, damage_mode)'s levels: qualities (best first, 1.0 first), damage_fracs,
    n per level, grid per level (n_seeds, k) on the shared seed ids."""

    qualities: np.ndarray
    damage_fracs: np.ndarray
    n: list[np.ndarray]
    grids: list[np.ndarray]


def _data(df: pd.DataFrame, *, metric: str, model: str, damage_mode: str, n_total: int | None) -> _Data:
    rows = quality_rows(of_repair(df, NO_REPAIR), model=model, damage_mode=damage_mode)
    if rows.empty or 1.0 not in set(rows["quality"]):
        raise ValueError(f"the exchange rate needs quality 1.0 (damage_frac 0) trials of model={model!r}, "
                         f"damage_mode={damage_mode!r}; qualities present: {sorted(set(rows['quality']))}")
    seeds = sorted(rows["seed"].unique())
    levels = sorted(rows.groupby("quality"), key=lambda item: -item[0])
    pivots = [level.pivot_table(index="seed", columns="sample_frac", values=metric, aggfunc="mean").reindex(seeds)
              for _, level in levels]
    return _Data(qualities=np.array([q for q, _ in levels]),
                 damage_fracs=np.array([float(level["damage_frac"].iloc[0]) for _, level in levels]),
                 n=[num_obs(p.columns.to_numpy(), n_total=training_size(df) if n_total is None else n_total)
                    for p in pivots],
                 grids=[p.to_numpy(dtype=float) for p in pivots])


def _family(data: _Data, curve: str) -> str:
    """The surface's family: `curve` when parametric, else what `auto` picks on the clean level
    when that is parametric, else FALLBACK_FAMILY."""
    if curve in PARAMETRIC:
        return curve
    chosen = fit_curve(data.n[0], _seed_mean(data.grids[0]), curve=curve).family if curve == "auto" else curve
    return chosen if chosen in PARAMETRIC else FALLBACK_FAMILY


def exchange_table(df: pd.DataFrame, *, metric: str = "acc", threshold: float | None = None, model: str,
                   damage_mode: str, n_classes: int, curve: str = DEFAULT_CURVE, n_boot: int = DEFAULT_N_BOOT,
                   random_state: int = 0, n_total: int | None = None) -> pd.DataFrame:
    """The exchange rate g(q) of one model and damage mode (repair none), with the per-level check.

    metric "acc" or "auc"; threshold in (0, 1) (default the talk's: acc 0.90, auc 0.98) for
    the num_obs columns; n_classes: the dataset's K (for the random-damage reference);
    curve: the surface's family (a parametric one of datavsmath.analysis.curves; "auto",
    default, or another: the family auto picks on the clean level, else pow3); n_boot,
    random_state: the bootstrap over seeds; n_total: the training-set size num_obs counts in.
    Returns one row per quality level, best first: quality, damage_frac, g, g_lo, g_hi (95 %
    bootstrap; NaN with fewer seeds than an interval needs), g_theory (the mode's reference,
    NaN for modes without one), departs (the reference lies outside [g_lo, g_hi]),
    obs_per_clean (1 / g), num_obs (n_clean / g: what the surface says reaches the
    threshold), num_obs_level (the level's own fit of the same family), d_num_obs_d_quality
    (from the row above, via g), d_num_obs_d_quality_lo, _hi, rmse (the surface's residual
    RMS at this level), rmse_level (the level's own fit's), family, n_seeds.
    """
    threshold = _check(metric, threshold)
    data = _data(df, metric=metric, model=model, damage_mode=damage_mode, n_total=n_total)
    family = _family(data, check_curve(curve))
    means = [_seed_mean(g) for g in data.grids]
    surface = fit_surface(data.n, means, data.qualities, family=family)
    n_seeds = data.grids[0].shape[0]
    draws = seed_draws(n_seeds if has_interval(n_seeds) else 1, n_boot=n_boot, random_state=random_state)
    boots = [fit_surface(data.n, [_seed_mean(g[d]) for g in data.grids], data.qualities, family=family,
                         start=surface) for d in draws]
    n_clean = surface.clean_crossing(threshold)
    needed = n_clean / surface.g
    boot_needed = np.array([[b.clean_crossing(threshold) / gi for gi in b.g] for b in boots]).reshape(
        len(boots), len(data.qualities))
    records = []
    for i, quality in enumerate(data.qualities):
        g_draws = np.array([b.g[i] for b in boots])
        g_lo, g_hi = _interval(g_draws) if g_draws.size else (np.nan, np.nan)
        level_fit = fit_one(family, data.n[i], means[i])
        theory = float(theory_g(quality, damage_mode=damage_mode, n_classes=n_classes))
        slope, lo, hi = _slope(i, data.qualities, needed, boot_needed)
        keep = np.isfinite(means[i])
        records.append({
            "quality": float(quality), "damage_frac": float(data.damage_fracs[i]), "g": float(surface.g[i]),
            "g_lo": g_lo, "g_hi": g_hi, "g_theory": theory,
            "departs": bool(np.isfinite([theory, g_lo, g_hi]).all() and not g_lo <= theory <= g_hi),
            "obs_per_clean": 1 / float(surface.g[i]), "num_obs": float(needed[i]),
            "num_obs_level": level_fit.crossing(threshold), "d_num_obs_d_quality": slope,
            "d_num_obs_d_quality_lo": lo, "d_num_obs_d_quality_hi": hi,
            "rmse": _rmse(surface.predict(data.n[i][keep], i), means[i][keep]),
            "rmse_level": _rmse(level_fit.predict(data.n[i][keep]), means[i][keep]),
            "family": family, "n_seeds": n_seeds})
    return pd.DataFrame(records)


def _rmse(predicted: np.ndarray, values: np.ndarray) -> float:
    return float(np.sqrt(np.mean((predicted - values) ** 2))) if values.size else np.nan


def _slope(i: int, qualities: np.ndarray, needed: np.ndarray, boot_needed: np.ndarray) -> tuple[float, float, float]:
    """d num_obs / d quality between level i and the one above, and its bootstrap interval."""
    if i == 0:
        return np.nan, np.nan, np.nan
    step = qualities[i] - qualities[i - 1]
    with np.errstate(invalid="ignore"):
        slope = float((needed[i] - needed[i - 1]) / step)
        draws = (boot_needed[:, i] - boot_needed[:, i - 1]) / step if boot_needed.size else np.array([])
    draws = draws[np.isfinite(draws)]
    low, high = _interval(draws) if draws.size else (np.nan, np.nan)
    return slope, low, high


def plot_exchange_rate(table: pd.DataFrame, *, model: str, damage_mode: str, n_classes: int) -> go.Figure:
    """The measured g(q) with its interval beside the damage mode's reference line.

    table: `exchange_table` output; n_classes: the dataset's K."""
    fig = go.Figure()
    error = {"type": "data", "symmetric": False, "array": table["g_hi"] - table["g"],
             "arrayminus": table["g"] - table["g_lo"]} if table["g_lo"].notna().any() else None
    fig.add_trace(go.Scatter(x=table["quality"], y=table["g"], mode="lines+markers", name="measured g(q)",
                             error_y=error, customdata=table[["obs_per_clean", "rmse", "rmse_level"]].to_numpy(),
                             hovertemplate=("quality %{x}<br>g %{y:.3f} (one observation = %{y:.3f} clean)"
                                            "<br>%{customdata[0]:.2f} observations per clean one"
                                            "<br>surface RMSE %{customdata[1]:.4f} · own fit %{customdata[2]:.4f}"
                                            "<extra></extra>")))
    if table["g_theory"].notna().any():
        grid = np.linspace(table["quality"].min(), 1.0, 50)
        reference = "(1 - η·K/(K-1))²" if damage_mode == "random" else "(1 - 2η)²"
        fig.add_trace(go.Scatter(x=grid, y=theory_g(grid, damage_mode=damage_mode, n_classes=n_classes),
                                 mode="lines", line={"dash": "dash"}, name=f"reference {reference}, η = 1 - q"))
    fig.update_xaxes(title_text="quality (1 - damage_frac)", autorange="reversed")
    fig.update_yaxes(title_text="g(q): clean-equivalent share of an observation", range=[0, 1.05])
    fig.update_layout(title=f"The exchange rate between data and quality ({model}, {damage_mode} damage)",
                      template="plotly_white", height=420)
    return fig



EXCHANGE_CAPTION = (
    "One surface per model and damage mode: acc(n, q) = curve(n · g(q)), g(1) = 1, the curve's parameters shared "
    "by every quality level; g(q) is what one observation at quality q is worth in clean ones. Bars: 95 % "
    f"bootstrap over seeds ({REPORT_N_BOOT} draws). Dashed: the reference for the damage mode (η = 1 - q; random "
    "over K classes (1 - η·K/(K-1))², constant pair (1 - 2η)²). The table's rmse / rmse_level compare the surface "
    "with each level's own fit of the same family.")


def exchange_items(df: pd.DataFrame, *, model: str | None, modes: list[str], n_classes: int, n_total: int,
                   threshold: float | None = None, curve: str = DEFAULT_CURVE,
                   n_boot: int = REPORT_N_BOOT) -> list[Item]:
    """The exchange-rate figure and table of each damaged mode of `model` (acc), with a
    sentence on where the measurement departs from the reference."""
    items: list[Item] = []
    if model is None:
        return items
    for mode in [m for m in modes if m != NO_DAMAGE]:
        key, title = f"exchange_{model}_{mode}", f"The exchange rate between data and quality ({model}, {mode} damage)"
        try:
            table = exchange_table(df, model=model, damage_mode=mode, n_classes=n_classes, threshold=threshold,
                                   curve=curve, n_boot=n_boot, n_total=n_total)
        except ValueError as exc:
            items.append(Item(key, title, note=str(exc)))
            continue
        caption = f"{EXCHANGE_CAPTION} {departure_text(table)}"
        items.append(Item(key, title, figure=plot_exchange_rate(table, model=model, damage_mode=mode,
                                                                n_classes=n_classes), caption=caption))
        items.append(Item(f"{key}_table", f"{title}: g(q) per quality level", table=table))
    return items


def departure_text(table: pd.DataFrame) -> str:
    """Where the measured g departs from the reference: the levels whose interval excludes it."""
    if table["g_theory"].isna().all():
        return "This damage mode has no reference line."
    if table["g_lo"].isna().all():
        return "Too few seeds for an interval: no departure from the reference can be told."
    departs = table[table["departs"]]
    if departs.empty:
        return "The reference lies inside every level's interval."
    levels = ", ".join(f"q {r.quality:g} (g {r.g:.2f} vs {r.g_theory:.2f})" for r in departs.itertuples())
    return f"The measurement departs from the reference at {levels}."

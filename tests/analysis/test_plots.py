"""datavsmath.analysis.plots: every figure function returns a Figure with the expected traces."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from datavsmath.analysis import aggregate, plots
from datavsmath.analysis.schema import seed_frame_to_tidy, to_seed_format
from datavsmath.analysis.tables import interpolated_table, seed_table
from tests.analysis.fixtures import DAMAGE_FRACS, SAMPLE_FRACS, full_results, synthetic_results


def lines(fig: go.Figure) -> list[go.Scatter]:
    return [t for t in fig.data if isinstance(t, go.Scatter) and t.fill != "toself"]


def bands(fig: go.Figure) -> list[go.Scatter]:
    return [t for t in fig.data if isinstance(t, go.Scatter) and t.fill == "toself"]


@pytest.mark.parametrize("seeds, n_bands", [((0,), 0), ((0, 1), 8)])
def test_size_figure_one_line_per_model_and_metric(seeds, n_bands):
    fig = plots.plot_size(aggregate.size_curves(synthetic_results(seeds=seeds)))
    assert isinstance(fig, go.Figure)
    assert len(lines(fig)) == 8 and len(bands(fig)) == n_bands
    assert [t.name for t in lines(fig)][:4] == ["rf", "xgb", "dnn", "cnn"]
    assert list(lines(fig)[0].x) == list(SAMPLE_FRACS)
    hover = lines(fig)[0].hovertemplate
    assert all(word in hover for word in ("model", "sample_frac", "damage_frac", "seeds", "n_train"))


def test_ci_band_is_an_interval_around_the_mean():
    curves = aggregate.size_curves(synthetic_results(models=("cnn",), seeds=(0, 1, 2)), band="ci95")
    assert (curves["acc_lo"] < curves["acc"]).all() and (curves["acc"] < curves["acc_hi"]).all()
    assert (curves["n_seeds"] == 3).all() and curves["seeds_text"].iloc[0] == "0, 1, 2"
    with pytest.raises(ValueError, match="band must be one of"):
        aggregate.size_curves(synthetic_results(), band="sd")


def test_damage_figure_one_row_per_mode():
    df = full_results(seeds=(0,))
    curves = aggregate.damage_curves(df)
    fig = plots.plot_damage(curves)
    assert len(lines(fig)) == 2 * 4 * 2  # modes x models x metrics
    assert list(dict.fromkeys(curves["damage_mode"])) == ["random", "constant"]
    # the clean (mode none) full-data trial is every mode's damage_frac 0 point
    assert list(lines(fig)[0].x) == list(DAMAGE_FRACS)


def test_cross_figure_lines_per_damage_level_and_heatmaps():
    df = full_results(seeds=(0,))
    assert aggregate.cross_candidates(df) == [("cnn", "constant")]
    fig = plots.plot_cross(aggregate.cross_curves(df, model="cnn", damage_mode="constant"), model="cnn",
                           damage_mode="constant")
    assert len(lines(fig)) == len(DAMAGE_FRACS) * 2
    heatmaps = [t for t in fig.data if isinstance(t, go.Heatmap)]
    assert len(heatmaps) == 2 and len(heatmaps[0].z) == len(DAMAGE_FRACS) * len(SAMPLE_FRACS)


def test_economics_figure_points_and_interpolated_curve_with_ci():
    df = full_results(seeds=(0, 1))
    seed = aggregate.stack_tables({f"{m}": seed_table(df, metric=m) for m in ("acc", "auc")})
    interp = aggregate.stack_tables({f"{m}": interpolated_table(df, metric=m, n_boot=20) for m in ("acc", "auc")})
    fig = plots.plot_economics(seed, interp)
    assert len(fig.data) == 8
    names = [t.name for t in fig.data[:4]]
    assert names == ["CI high", "95% CI (curves.estimate_crossing)", "interpolated", "seed style (swept grid)"]
    assert fig.data[1].fill == "tonexty" and fig.layout.yaxis.type == "log"


def test_label_damage_figure_uses_the_real_damage_function():
    labels = np.repeat(np.arange(10), 600)
    counts = aggregate.label_damage_counts(labels, true_label=5, damage_frac=0.3, seed=0)
    random = counts[counts["damage_mode"] == "random"].set_index("label")["count"]
    constant = counts[counts["damage_mode"] == "constant"].set_index("label")["count"]
    assert random.sum() == constant.sum() == 600
    assert random[5] == constant[5] == 420  # exactly round(0.3 * 600) changed
    assert constant[6] == 180 and constant.drop([5, 6]).eq(0).all()  # "5 becomes 6, always"
    assert (random.drop(5) > 0).sum() >= 8  # spread over the other labels
    fig = plots.plot_label_damage(counts, true_label=5, damage_frac=0.3)
    assert [type(t) for t in fig.data] == [go.Bar, go.Bar]
    assert list(fig.data[1].y) == list(constant)


def test_label_damage_counts_checks_the_label():
    with pytest.raises(ValueError, match="true_label must be in 0..9, got 12"):
        aggregate.label_damage_counts(np.zeros(10, dtype=int), true_label=12)


def test_reference_overlay_solid_run_dashed_reference():
    run = synthetic_results(seeds=(0,))
    shifted = to_seed_format(run).assign(acc=lambda r: r["acc"] - 0.01)
    reference = seed_frame_to_tidy(shifted)
    overlay = aggregate.overlay_curves(run, reference, x="sample_frac")
    fig = plots.plot_reference(overlay, x="sample_frac")
    assert len(lines(fig)) == 2 * 4 * 2  # sources x models x metrics
    dashes = {t.name.split(" · ")[1]: t.line.dash for t in lines(fig)}
    assert dashes == {"this run": "solid", "reference": "dash"}
    with pytest.raises(ValueError, match="x must be one of"):
        aggregate.overlay_curves(run, reference, x="seed")


def test_confusion_drilldown_worst_and_best_per_model():
    trials = aggregate.drilldown_trials(full_results(seeds=(0,)))
    assert trials["model"].tolist() == ["rf", "rf", "xgb", "xgb", "dnn", "dnn", "cnn", "cnn"]
    assert trials["pick"].tolist() == ["worst", "best"] * 4
    fig = plots.plot_confusion(trials)
    assert all(isinstance(t, go.Heatmap) for t in fig.data) and len(fig.data) == 8
    assert [t.visible for t in fig.data] == [True] + [False] * 7
    assert len(fig.layout.updatemenus[0].buttons) == 8
    hover = fig.data[0].hovertemplate
    assert all(word in hover for word in ("rf", "sample_frac", "seed", "n_train", "acc"))

"""The talk's figures as plotly Figures, drawn from frames prepared by analysis.aggregate.

Plot functions only draw: they never aggregate, filter or call `.show()`. Curve frames are
those of `aggregate.seed_summary` (columns <metric>, <metric>_lo, <metric>_hi, n_seeds,
n_train and the *_text hover columns); a band (min-max or CI over seeds) is drawn where
<metric>_lo is known, i.e. where there are replicates.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative, sample_colorscale
from plotly.subplots import make_subplots

from analysis.aggregate import REFERENCE_SOURCE, RUN_SOURCE
from analysis.schema import DATASET
from trainables.metrics import METRICS
from trainables.models import MODEL_NAMES as MODEL_ORDER  # the talk's order of models

METRIC_TITLES = {"acc": "Accuracy", "auc": "AUC (one-vs-rest)"}
MODE_TITLES = {"random": "Random Bias", "constant": "Constant Bias", "none": "No Bias"}
MODEL_COLORS = dict(zip(MODEL_ORDER, qualitative.D3))
SOURCE_DASH = {RUN_SOURCE: "solid", REFERENCE_SOURCE: "dash"}
SUBTITLE = "Fashion MNIST Dataset"
TEMPLATE = "plotly_white"
SAMPLE_AXIS_TITLE = "Number of samples (share of 60,000 obs)"
DAMAGE_AXIS_TITLE = "Damaged labels (share of each class)"
BAND_OPACITY = 0.18
# Fractions as percentages; "~" drops trailing zeros so that 1 %, 1.2 %, 1.4 % stay distinct.
PERCENT_TICKS = ".2~%"
# Colorbars of the two heatmaps, just right of each (horizontal_spacing 0.2 leaves the room).
HEATMAP_COLORBAR_X = (0.41, 1.01)
# The hover of every curve point: the trial's axes, seeds, training-set size and value.
CURVE_HOVER = ("model %{customdata[0]}<br>sample_frac %{customdata[1]} · damage_frac %{customdata[2]}"
               " (%{customdata[3]})<br>seeds %{customdata[4]} · n_train %{customdata[5]:,.0f}"
               "<br>%{meta} %{y:.4f}<extra></extra>")
HOVER_COLUMNS = ["model_text", "sample_frac_text", "damage_frac_text", "damage_mode_text", "seeds_text", "n_train"]


def _color(model: str) -> str:
    """The model's color; other models get a stable color from their name."""
    return MODEL_COLORS.get(model, qualitative.Dark24[zlib.crc32(model.encode()) % len(qualitative.Dark24)])


def _title(title: str, subtitle: str = SUBTITLE) -> dict:
    return {"text": title, "subtitle": {"text": subtitle}}


def _curve(frame: pd.DataFrame, *, x: str, metric: str, name: str, color: str, dash: str = "solid",
           legendgroup: str | None = None, showlegend: bool = True) -> list[go.Scatter]:
    """A line over `x` for one group of a curve frame, with its replicate band when known."""
    traces = []
    if frame[f"{metric}_lo"].notna().any():
        traces.append(go.Scatter(
            x=[*frame[x], *frame[x][::-1]], y=[*frame[f"{metric}_hi"], *frame[f"{metric}_lo"][::-1]],
            fill="toself", fillcolor=color, opacity=BAND_OPACITY, line={"width": 0}, hoverinfo="skip",
            showlegend=False, legendgroup=legendgroup or name, name=f"{name} band"))
    traces.append(go.Scatter(
        x=frame[x], y=frame[metric], mode="lines+markers", name=name, legendgroup=legendgroup or name,
        showlegend=showlegend, line={"color": color, "dash": dash}, marker={"size": 5},
        customdata=frame[HOVER_COLUMNS].to_numpy(), hovertemplate=CURVE_HOVER, meta=metric))
    return traces


def _metric_columns(fig: go.Figure, frame: pd.DataFrame, *, x: str, line: str, row: int = 1,
                    colors: dict | None = None, first_row: bool = True) -> None:
    """One subplot column per metric, one line per value of `line`."""
    for col, metric in enumerate(METRICS, start=1):
        for value, group in frame.groupby(line, sort=False):
            color = (colors or {}).get(value) or _color(str(value))
            for trace in _curve(group, x=x, metric=metric, name=f"{value}", color=color,
                                showlegend=first_row and col == 1):
                fig.add_trace(trace, row=row, col=col)
        fig.update_yaxes(title_text=METRIC_TITLES[metric], row=row, col=col)


def plot_size(curves: pd.DataFrame) -> go.Figure:
    """Accuracy and AUC against sample_frac, one line per model (aggregate.size_curves)."""
    fig = make_subplots(rows=1, cols=len(METRICS), subplot_titles=[METRIC_TITLES[m] for m in METRICS])
    _metric_columns(fig, curves, x="sample_frac", line="model")
    fig.update_xaxes(title_text=SAMPLE_AXIS_TITLE, tickformat=PERCENT_TICKS)
    fig.update_layout(title=_title("Model Architectures and Training Batch Size"), template=TEMPLATE,
                      legend_title_text="model", height=480)
    return fig


def plot_damage(curves: pd.DataFrame) -> go.Figure:
    """Accuracy and AUC against damage_frac, one line per model, one row per damage_mode
    (aggregate.damage_curves)."""
    modes = list(dict.fromkeys(curves["damage_mode"]))
    titles = [f"{METRIC_TITLES[m]} · {MODE_TITLES.get(mode, mode)}" for mode in modes for m in METRICS]
    fig = make_subplots(rows=len(modes), cols=len(METRICS), subplot_titles=titles, vertical_spacing=0.14)
    for row, mode in enumerate(modes, start=1):
        _metric_columns(fig, curves[curves["damage_mode"] == mode], x="damage_frac", line="model", row=row,
                        first_row=row == 1)
    fig.update_xaxes(title_text=DAMAGE_AXIS_TITLE, tickformat=PERCENT_TICKS)
    sample = ", ".join(f"{s:.0%}" for s in dict.fromkeys(curves["sample_frac"]))
    fig.update_layout(title=_title("Model Architectures and " + " / ".join(MODE_TITLES.get(m, m) for m in modes),
                                   f"{SUBTITLE} · trained on {sample} of the training set"),
                      template=TEMPLATE, legend_title_text="model", height=380 * len(modes) + 120)
    return fig


def plot_cross(curves: pd.DataFrame, *, model: str, damage_mode: str) -> go.Figure:
    """The size x damage cross product (aggregate.cross_curves): one line per damage_frac
    against sample_frac (top row) and a heatmap of the metric over (sample_frac,
    damage_frac) (bottom row), for accuracy and AUC."""
    levels = list(dict.fromkeys(curves["damage_frac"]))
    palette = sample_colorscale("Viridis", [i / max(len(levels) - 1, 1) for i in range(len(levels))])
    colors = dict(zip(levels, palette))
    titles = [*(METRIC_TITLES[m] for m in METRICS), *(f"{METRIC_TITLES[m]} heatmap" for m in METRICS)]
    fig = make_subplots(rows=2, cols=len(METRICS), subplot_titles=titles, vertical_spacing=0.16,
                        horizontal_spacing=0.2)
    _metric_columns(fig, curves, x="sample_frac", line="damage_frac", colors=colors)
    for col, metric in enumerate(METRICS, start=1):
        fig.add_trace(go.Heatmap(
            x=curves["sample_frac_text"], y=curves["damage_frac_text"], z=curves[metric], colorscale="Viridis",
            colorbar={"title": {"text": metric}, "len": 0.42, "y": 0.21, "thickness": 14,
                      "x": HEATMAP_COLORBAR_X[col - 1], "xanchor": "left"},
            customdata=curves[HOVER_COLUMNS].to_numpy(), meta=metric,
            hovertemplate=CURVE_HOVER.replace("%{y:.4f}", "%{z:.4f}")), row=2, col=col)
        fig.update_xaxes(title_text="sample_frac", type="category", row=2, col=col)
        fig.update_yaxes(title_text="damage_frac", type="category", row=2, col=col)
        fig.update_xaxes(title_text=SAMPLE_AXIS_TITLE, tickformat=PERCENT_TICKS, row=1, col=col)
    fig.update_layout(title=_title(f"{model.upper()} Architecture and {MODE_TITLES.get(damage_mode, damage_mode)}"),
                      template=TEMPLATE, legend_title_text="damage_frac", height=900)
    return fig


def plot_economics(points: pd.DataFrame, curve: pd.DataFrame) -> go.Figure:
    """Observations needed to reach each target against quality: the seed-style points
    and the interpolated crossing with its bootstrap CI; its slope is d data / d quality.

    points: stacked `tables.seed_table` frames with a `target` column (e.g. "acc > 0.90").
    curve: stacked `tables.interpolated_table` frames with the same `target` column.
    """
    targets = list(dict.fromkeys([*curve["target"], *points["target"]]))
    fig = make_subplots(rows=1, cols=len(targets), subplot_titles=targets)
    for col, target in enumerate(targets, start=1):
        line, dots = curve[curve["target"] == target], points[points["target"] == target]
        fig.add_trace(go.Scatter(x=line["quality"], y=line["ci_high"], mode="lines", line={"width": 0},
                                 hoverinfo="skip", showlegend=False, legendgroup="ci", name="CI high"), row=1, col=col)
        fig.add_trace(go.Scatter(x=line["quality"], y=line["ci_low"], mode="lines", line={"width": 0},
                                 fill="tonexty", fillcolor="rgba(31,119,180,0.18)", hoverinfo="skip",
                                 name="95% CI (bootstrap over seeds)", legendgroup="ci", showlegend=col == 1),
                      row=1, col=col)
        fig.add_trace(go.Scatter(
            x=line["quality"], y=line["num_obs"], mode="lines+markers", name="interpolated", legendgroup="interp",
            showlegend=col == 1, line={"color": MODEL_COLORS["rf"]},
            marker={"size": 8, "symbol": ["circle-open" if e else "circle" for e in line["extrapolated"]]},
            customdata=line[["ci_low", "ci_high", "d_obs", "d_num_obs_d_quality", "elasticity", "method",
                             "extrapolated"]].to_numpy(),
            hovertemplate=("quality %{x}<br>num_obs %{y:,.0f} [%{customdata[0]:,.0f}, %{customdata[1]:,.0f}]"
                           "<br>d_obs %{customdata[2]:.2f} · d num_obs / d quality %{customdata[3]:,.0f}"
                           "<br>elasticity %{customdata[4]:.2f} · %{customdata[5]}"
                           " · extrapolated %{customdata[6]}<extra></extra>")),
            row=1, col=col)
        fig.add_trace(go.Scatter(
            x=dots["quality"], y=dots["num_obs"], mode="markers", name="seed style (swept grid)",
            legendgroup="seed", showlegend=col == 1,
            marker={"color": MODEL_COLORS["xgb"], "size": 10, "symbol": "diamond"},
            customdata=dots[["sample_frac", "d_obs"]].to_numpy(),
            hovertemplate="quality %{x}<br>num_obs %{y:,.0f} (sample_frac %{customdata[0]})"
                          "<br>d_obs %{customdata[1]:.2f}<extra></extra>"), row=1, col=col)
        fig.update_xaxes(title_text="quality (1 - damage_frac)", autorange="reversed", row=1, col=col)
        fig.update_yaxes(title_text="observations needed", type="log", row=1, col=col)
    fig.update_layout(title=_title("An economic argument for quality",
                                   "Observations needed to reach the target; slope = ∂data/∂quality;"
                                   " open circles: crossing outside the swept sizes"),
                      template=TEMPLATE, height=480)
    return fig


def plot_label_damage(counts: pd.DataFrame, *, true_label: int, damage_frac: float) -> go.Figure:
    """Bar charts of the labels that samples of `true_label` receive after damage, one per
    damage_mode (aggregate.label_damage_counts: damage_mode, label, count)."""
    modes = list(dict.fromkeys(counts["damage_mode"]))
    names = {"random": "Randomly Biased Labels", "constant": "Constant Biased Labels"}
    fig = make_subplots(rows=1, cols=len(modes), subplot_titles=[names.get(m, m) for m in modes])
    for col, mode in enumerate(modes, start=1):
        bars = counts[counts["damage_mode"] == mode]
        fig.add_trace(go.Bar(x=bars["label"], y=bars["count"], text=bars["count"], textposition="outside",
                             name=names.get(mode, mode), marker={"color": "#555"},
                             hovertemplate="damaged label %{x}: %{y} samples<extra></extra>"), row=1, col=col)
        fig.update_xaxes(title_text="Damaged Label", tickmode="linear", dtick=1, row=1, col=col)
        fig.update_yaxes(title_text="Count", row=1, col=col)
    fig.update_layout(title=_title(f"What damage does to labels · True Label = {true_label}",
                                   f"{damage_frac:.0%} Damage, computed with trainables.damage.damage_labels"),
                      template=TEMPLATE, showlegend=False, height=440)
    return fig


def plot_reference(overlay: pd.DataFrame, *, x: str) -> go.Figure:
    """This run's curves beside a reference (aggregate.overlay_curves): color = model,
    solid = this run, dashed = reference; one subplot per metric (and damage_mode)."""
    groups = ["damage_mode"] if x == "damage_frac" else []
    panels = list(dict.fromkeys(overlay[groups[0]])) if groups else [None]
    titles = [f"{METRIC_TITLES[m]}" + (f" · {MODE_TITLES.get(p, p)}" if p else "") for p in panels for m in METRICS]
    fig = make_subplots(rows=len(panels), cols=len(METRICS), subplot_titles=titles)
    for row, panel in enumerate(panels, start=1):
        frame = overlay if panel is None else overlay[overlay["damage_mode"] == panel]
        for col, metric in enumerate(METRICS, start=1):
            for (source, model), group in frame.groupby(["source", "model"], sort=False):
                for trace in _curve(group, x=x, metric=metric, name=f"{model} · {source}", color=_color(model),
                                    dash=SOURCE_DASH.get(source, "dot"), showlegend=row == 1 and col == 1):
                    fig.add_trace(trace, row=row, col=col)
            fig.update_yaxes(title_text=METRIC_TITLES[metric], row=row, col=col)
    fig.update_xaxes(title_text=SAMPLE_AXIS_TITLE if x == "sample_frac" else DAMAGE_AXIS_TITLE,
                     tickformat=PERCENT_TICKS)
    fig.update_layout(title=_title("Reference overlay: this run (solid) and the reference (dashed)"),
                      template=TEMPLATE, height=420 * len(panels) + 80)
    return fig


def _trial_label(trial: pd.Series) -> str:
    return (f"{trial['model']} {trial.get('pick', '')} · acc {trial['acc']:.3f}"
            f" · sample_frac {trial['sample_frac']:g}"
            f" · damage_frac {trial['damage_frac']:g} ({trial['damage_mode']}) · seed {trial['seed']}")


def plot_confusion(trials: pd.DataFrame, *, class_names: Sequence[str] | None = None) -> go.Figure:
    """Confusion matrix heatmaps (rows = true label) of selected trials with a dropdown
    (aggregate.drilldown_trials); hover shows the trial's model, fractions, seed, n_train
    and metrics."""
    fig = go.Figure()
    labels = [f"{i}" if class_names is None else f"{i} {class_names[i]}" for i in range(DATASET.n_classes)]
    for i, (_, trial) in enumerate(trials.iterrows()):
        facts = (f"{trial['model']} · sample_frac {trial['sample_frac']:g} · damage_frac {trial['damage_frac']:g}"
                 f" ({trial['damage_mode']}) · seed {trial['seed']} · n_train {trial['n_train']}"
                 f" · acc {trial['acc']:.4f} · auc {trial['auc']:.4f}")
        fig.add_trace(go.Heatmap(
            z=trial["confusion"], x=labels, y=labels, colorscale="Blues", visible=i == 0, name=_trial_label(trial),
            hovertemplate=f"true %{{y}} → predicted %{{x}}: %{{z}}<br>{facts}<extra></extra>"))
    buttons = [{"label": _trial_label(trial), "method": "update",
                "args": [{"visible": [j == i for j in range(len(trials))]}, {"title.text": _trial_label(trial)}]}
               for i, (_, trial) in enumerate(trials.iterrows())]
    fig.update_layout(
        title={"text": _trial_label(trials.iloc[0]) if len(trials) else "no finished trial with a confusion matrix"},
        updatemenus=[{"buttons": buttons, "x": 0, "y": 1.04, "xanchor": "left", "yanchor": "bottom",
                      "direction": "down"}],
        template=TEMPLATE, height=660, margin={"t": 150},
        xaxis={"title": {"text": "predicted label"}, "type": "category"},
        yaxis={"title": {"text": "true label"}, "type": "category", "autorange": "reversed"})
    return fig

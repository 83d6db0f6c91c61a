"""The talk's figures as plotly Figures, drawn from frames prepared by datavsmath.analysis.aggregate.

Plot functions only draw: they never aggregate, filter or call `.show()`. Curve frames are
those of `aggregate.seed_summary` (columns <metric>, <metric>_lo, <metric>_hi, n_seeds,
n_train and the *_text hover columns); a band (min-max or CI over seeds) is drawn where
<metric>_lo is known, i.e. where there are replicates.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative, sample_colorscale
from plotly.subplots import make_subplots

from datavsmath.analysis.aggregate import REFERENCE_SOURCE, RUN_SOURCE
from datavsmath.analysis.schema import DATASET
from datavsmath.trainables.damage import NO_DAMAGE
from datavsmath.trainables.datasets.built_in import BUILT_IN_DATASETS
from datavsmath.trainables.datasets.common import DatasetInfo
from datavsmath.trainables.metrics import METRICS
from datavsmath.trainables.models import SEED_MODELS
from datavsmath.trainables.repair import NO_REPAIR

METRIC_TITLES = {"acc": "Accuracy", "auc": "AUC (one-vs-rest)"}
MODE_TITLES = {"random": "Random Bias", "constant": "Constant Bias", NO_DAMAGE: "No Bias", "matrix": "Matrix Bias",
               "confusion": "Confusion Bias"}
MODEL_COLORS = {name: e.color for name, e in SEED_MODELS.items()}
SOURCE_DASH = {RUN_SOURCE: "solid", REFERENCE_SOURCE: "dash"}
DATASET_TITLES = {name: e.title for name, e in BUILT_IN_DATASETS.items()}  # the talk's names of the built-in data
TEMPLATE = "plotly_white"
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


def dataset_subtitle(info: DatasetInfo) -> str:
    """The figures' subtitle: "Fashion MNIST Dataset" for the talk's data, else "<name> Dataset"."""
    return f"{DATASET_TITLES.get(info.name, info.name)} Dataset"


def sample_axis_title(n_train: int) -> str:
    """The sample_frac axis title: "Number of samples (share of 60,000 obs)" for Fashion-MNIST."""
    return f"Number of samples (share of {n_train:,} obs)"


# Drawn for the talk's dataset; `for_dataset` retitles a figure for another one.
SUBTITLE = dataset_subtitle(DATASET)
SAMPLE_AXIS_TITLE = sample_axis_title(DATASET.n_train)


def for_dataset(fig: go.Figure, *, info: DatasetInfo) -> go.Figure:
    """`fig` (any figure of this module) retitled for the dataset `info` in place: its
    subtitle names the dataset and a sample_frac axis says "share of <n_train> obs"."""
    if info.name == DATASET.name and info.n_train == DATASET.n_train:
        return fig
    subtitle = fig.layout.title.subtitle.text if fig.layout.title and fig.layout.title.subtitle else None
    if subtitle and SUBTITLE in subtitle:
        fig.update_layout(title_subtitle_text=subtitle.replace(SUBTITLE, dataset_subtitle(info)))
    fig.for_each_xaxis(lambda axis: axis.update(title_text=sample_axis_title(info.n_train))
                       if axis.title and axis.title.text == SAMPLE_AXIS_TITLE else None)
    return fig


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
    cells = curves.sort_values(["damage_frac", "sample_frac"])  # numeric order on both category axes
    x_order = list(dict.fromkeys(cells.sort_values("sample_frac")["sample_frac_text"]))
    y_order = list(dict.fromkeys(cells["damage_frac_text"]))
    for col, metric in enumerate(METRICS, start=1):
        fig.add_trace(go.Heatmap(
            x=cells["sample_frac_text"], y=cells["damage_frac_text"], z=cells[metric], colorscale="Viridis",
            colorbar={"title": {"text": metric}, "len": 0.42, "y": 0.21, "thickness": 14,
                      "x": HEATMAP_COLORBAR_X[col - 1], "xanchor": "left"},
            customdata=cells[HOVER_COLUMNS].to_numpy(), meta=metric,
            hovertemplate=CURVE_HOVER.replace("%{y:.4f}", "%{z:.4f}")), row=2, col=col)
        fig.update_xaxes(title_text="sample_frac", type="category", categoryorder="array", categoryarray=x_order,
                         row=2, col=col)
        fig.update_yaxes(title_text="damage_frac", type="category", categoryorder="array", categoryarray=y_order,
                         row=2, col=col)
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
                                 name="95% CI (curves.estimate_crossing)", legendgroup="ci", showlegend=col == 1),
                      row=1, col=col)
        fig.add_trace(go.Scatter(
            x=line["quality"], y=line["num_obs"], mode="lines+markers", name="interpolated", legendgroup="interp",
            showlegend=col == 1, line={"color": MODEL_COLORS["rf"]},
            marker={"size": 8, "symbol": ["circle-open" if e else "circle" for e in line["extrapolated"]]},
            customdata=line[["ci_low", "ci_high", "d_obs", "d_num_obs_d_quality", "elasticity", "curve",
                             "extrapolated", "d_num_obs_d_quality_lo", "d_num_obs_d_quality_hi"]].to_numpy(),
            hovertemplate=("quality %{x}<br>num_obs %{y:,.0f} [%{customdata[0]:,.0f}, %{customdata[1]:,.0f}]"
                           "<br>d_obs %{customdata[2]:.2f} · d num_obs / d quality %{customdata[3]:,.0f}"
                           " [%{customdata[7]:,.0f}, %{customdata[8]:,.0f}]"
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
        for annotation in _slope_annotations(line):
            fig.add_annotation(annotation, row=1, col=col)
    fig.update_layout(title=_title("An economic argument for quality",
                                   "Observations needed to reach the target; labels: slope ∂data/∂quality per segment"
                                   " [95 % interval of the crossing]; open circles: crossing outside the swept sizes"),
                      template=TEMPLATE, height=480)
    return fig


def _short(value: float) -> str:
    """-109002 as "-109k", 2.4e6 as "2.4M"."""
    if abs(value) >= 1e6:
        return f"{value / 1e6:.1f}M"
    return f"{value / 1e3:.0f}k" if abs(value) >= 1e3 else f"{value:.0f}"


def _slope_annotations(line: pd.DataFrame) -> list[dict]:
    """Each segment's d num_obs / d quality with its bootstrap interval, at the segment's
    middle (y in log10 units: the axis is logarithmic); only where all of them are known."""
    rows = line.reset_index(drop=True)
    out = []
    for i in range(1, len(rows)):
        here, above = rows.iloc[i], rows.iloc[i - 1]
        values = [here.get(c, np.nan) for c in ("d_num_obs_d_quality", "d_num_obs_d_quality_lo",
                                                "d_num_obs_d_quality_hi")]
        if not np.isfinite([*values, here["num_obs"], above["num_obs"]]).all() or min(here["num_obs"],
                                                                                      above["num_obs"]) <= 0:
            continue  # a log axis has no place for 0 observations
        out.append({"x": (here["quality"] + above["quality"]) / 2, "showarrow": False, "yshift": 16,
                    "y": float(np.log10(np.sqrt(here["num_obs"] * above["num_obs"]))), "font": {"size": 10},
                    "text": f"{_short(values[0])} [{_short(values[1])}, {_short(values[2])}]"})
    return out


def plot_label_damage(counts: pd.DataFrame, *, true_label: int, damage_frac: float,
                      class_names: Sequence[str] | None = None) -> go.Figure:
    """Bar charts of the labels that samples of `true_label` receive after damage, one per
    damage_mode (aggregate.label_damage_counts: damage_mode, label, count); class_names
    (K,), when given, name the bars and the true label."""
    modes = list(dict.fromkeys(counts["damage_mode"]))
    if class_names is not None:
        counts = counts.assign(label=[f"{k} {class_names[k]}" for k in counts["label"]])
        true_text = f"{true_label} {class_names[true_label]}"
    else:
        true_text = str(true_label)
    names = {"random": "Randomly Biased Labels", "constant": "Constant Biased Labels"}
    fig = make_subplots(rows=1, cols=len(modes), subplot_titles=[names.get(m, m) for m in modes])
    for col, mode in enumerate(modes, start=1):
        bars = counts[counts["damage_mode"] == mode]
        fig.add_trace(go.Bar(x=bars["label"], y=bars["count"], text=bars["count"], textposition="outside",
                             name=names.get(mode, mode), marker={"color": "#555"},
                             hovertemplate="damaged label %{x}: %{y} samples<extra></extra>"), row=1, col=col)
        fig.update_xaxes(title_text="Damaged Label", **({"type": "category"} if class_names is not None
                                                        else {"tickmode": "linear", "dtick": 1}), row=1, col=col)
        fig.update_yaxes(title_text="Count", row=1, col=col)
    fig.update_layout(title=_title(f"What damage does to labels · True Label = {true_text}",
                                   f"{damage_frac:.0%} Damage, computed with trainables.damage.damage_labels"),
                      template=TEMPLATE, showlegend=False, height=440)
    return fig


def plot_transitions(transitions: pd.DataFrame, *, class_names: Sequence[str] | None = None) -> go.Figure:
    """Heatmaps of the realized label noise, one per damage mode (aggregate.realized_transitions):
    row = true label, column = the label a damaged sample was given, color = the share of that
    row's damaged labels. class_names (K,), when given, name the rows and columns."""
    modes = transitions["damage_mode"].tolist()
    fig = make_subplots(rows=1, cols=len(modes), horizontal_spacing=0.12,
                        subplot_titles=[f"{MODE_TITLES.get(m, m)} · {d:.0%} damage · {n} trials" for m, d, n in
                                        zip(modes, transitions["damage_frac"], transitions["n_trials"])])
    for col, row in enumerate(transitions.itertuples(index=False), start=1):
        k = len(row.share)
        labels = [str(i) if class_names is None else f"{i} {class_names[i]}" for i in range(k)]
        fig.add_trace(go.Heatmap(z=np.round(row.share, 4), x=labels, y=labels, coloraxis="coloraxis",
                                 customdata=row.counts, name=str(row.damage_mode),
                                 hovertemplate="true %{y} → given %{x}: %{z:.1%} of its damaged labels "
                                               "(%{customdata} samples)<extra></extra>"), row=1, col=col)
        fig.update_xaxes(title_text="given label", type="category", row=1, col=col)
        fig.update_yaxes(title_text="true label", type="category", autorange="reversed", row=1, col=col)
    fig.update_layout(title=_title("Where damaged labels went", "realized transition of the trials' training "
                                                                  "labels, off-diagonal, per true label"),
                      template=TEMPLATE, height=560, coloraxis={"colorscale": "Blues", "colorbar": {"title": "share"}})
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
    and metrics. class_names: the dataset's K names (default: the labels 0..K-1, K from the
    matrices)."""
    fig = go.Figure()
    n_classes = len(class_names) if class_names is not None else len(trials["confusion"].iloc[0]) if len(trials) else 0
    labels = [f"{i}" if class_names is None else f"{i} {class_names[i]}" for i in range(n_classes)]
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


# --- the buy-or-clean decision (datavsmath.analysis.decision) ----------------------------------------

# Colours of the routes of datavsmath.analysis.routes; "switch to <model>" routes take the model's own.
ROUTE_COLORS = {"buy labels": qualitative.D3[0], "audit labels": qualitative.D3[2],
                "repair: prune": qualitative.D3[4], "repair: relabel": qualitative.D3[3]}
REPAIR_COLORS = {NO_REPAIR: "#555555", "prune": qualitative.D3[4], "relabel": qualitative.D3[3]}


def _band(x: Sequence[float], low: Sequence[float | None], high: Sequence[float | None], *, color: str, name: str,
          legendgroup: str, horizontal: bool = False) -> go.Scatter:
    """A filled band between `low` and `high` over `x` (horizontal: the band spans x, at y = `x`)."""
    along, across = [*x, *list(x)[::-1]], [*high, *list(low)[::-1]]
    xs, ys = (across, along) if horizontal else (along, across)
    return go.Scatter(x=xs, y=ys, mode="lines", fill="toself", fillcolor=color, opacity=BAND_OPACITY, line={"width": 0},
                      hoverinfo="skip", showlegend=False, legendgroup=legendgroup, name=f"{name} band")


def plot_iso_accuracy(contours: pd.DataFrame, *, metric: str = "acc") -> go.Figure:
    """Iso-accuracy contours (decision.iso_accuracy): for each target, the observations
    needed against quality, with the bootstrap band over seeds; open circles lie outside
    the swept sizes. Targets that no level reaches are left out."""
    targets = sorted(contours.loc[contours["reached"].astype(bool), "target"].unique())
    palette = sample_colorscale("Viridis", [i / max(len(targets) - 1, 1) for i in range(len(targets))])
    fig = go.Figure()
    for target, color in zip(targets, palette):
        line = contours[(contours["target"] == target) & contours["reached"].astype(bool)]
        name = f"{metric} = {target:.3f}"
        band = line[np.isfinite(line["ci_low"]) & np.isfinite(line["ci_high"])]
        if len(band) >= 2:
            fig.add_trace(_band(band["quality"], band["ci_low"], band["ci_high"], color=color, name=name,
                                legendgroup=name, horizontal=True))
        fig.add_trace(go.Scatter(
            x=line["num_obs"], y=line["quality"], mode="lines+markers", name=name, legendgroup=name,
            line={"color": color}, customdata=line[["ci_low", "ci_high"]].to_numpy(),
            marker={"size": 8, "symbol": ["circle-open" if e else "circle" for e in line["extrapolated"]]},
            hovertemplate=(f"{name}<br>quality %{{y}}<br>num_obs %{{x:,.0f}}"
                           " [%{customdata[0]:,.0f}, %{customdata[1]:,.0f}]<extra></extra>")))
    fig.update_xaxes(title_text="observations (num_obs)", type="log")
    fig.update_yaxes(title_text="quality (1 - damage_frac)")
    fig.update_layout(title=_title("Iso-accuracy contours: the same accuracy from more data or better labels",
                                   "Bands: 95 % intervals of the crossings; open circles: outside the swept sizes"),
                      template=TEMPLATE, legend_title_text="target", height=480)
    return fig


def _cost_axis(values: pd.Series, *, floor: float) -> list[float | None]:
    """Costs for a log axis: 0 drawn at `floor`, inf (out of reach) left out."""
    return [None if not np.isfinite(v) else floor if v <= 0 else float(v) for v in values]


def plot_decision(decision: pd.DataFrame, *, metric: str = "acc", price_label: float = 1.0,
                  price_audit: float = 0.2, current: str = "") -> go.Figure:
    """What reaching each target costs (routes.route_table): one line per route with
    its bootstrap band, a star on the cheapest. A route that cannot reach a target, or only
    beyond the data, has no point there; a cost of 0 sits on the bottom edge (floor), its
    hover says 0. current: the situation, for the subtitle."""
    decision = decision[decision["metric"] == metric] if "metric" in decision.columns else decision
    positive = decision.loc[np.isfinite(decision["cost"]) & (decision["cost"] > 0), "cost"]
    floor = float(positive.min()) / 10 if len(positive) else price_label
    fig = go.Figure()
    for route, rows in decision.groupby("route", sort=False):
        title, color = str(route), ROUTE_COLORS.get(str(route), _color(str(route)))
        band = rows[np.isfinite(rows["ci_low"]) & np.isfinite(rows["ci_high"])]
        if len(band) >= 2:
            fig.add_trace(_band(band["target"], _cost_axis(band["ci_low"], floor=floor),
                                _cost_axis(band["ci_high"], floor=floor), color=color, name=title,
                                legendgroup=str(route)))
        fig.add_trace(go.Scatter(
            x=rows["target"], y=_cost_axis(rows["cost"], floor=floor), mode="lines+markers", name=title,
            legendgroup=str(route), line={"color": color, "width": 3}, marker={"size": 7},
            customdata=rows[["cost", "ci_low", "ci_high", "n_bought", "n_audited"]].to_numpy(),
            hovertemplate=(f"{title}<br>{metric} %{{x:.4f}}: cost %{{customdata[0]:,.0f}}"
                           " [%{customdata[1]:,.0f}, %{customdata[2]:,.0f}]<br>buy %{customdata[3]:,.0f}"
                           " · audit %{customdata[4]:,.0f}<extra></extra>")))
    best = decision[decision["cheapest"].astype(bool)].drop_duplicates("target")
    fig.add_trace(go.Scatter(
        x=best["target"], y=_cost_axis(best["cost"], floor=floor), mode="markers", name="cheapest",
        marker={"symbol": "star", "size": 16, "color": "gold", "line": {"color": "black", "width": 1}},
        customdata=best[["route"]].to_numpy(), hovertemplate="cheapest: %{customdata[0]}<extra></extra>"))
    current = f"now {current}" if current else ""
    fig.update_xaxes(title_text=f"target {metric}")
    fig.update_yaxes(title_text=f"cost (one new label = {price_label:g}; one audit = {price_audit:g})", type="log")
    fig.update_layout(title=_title("What reaching the target costs, per route",
                                   f"{current}; bands: 95 % intervals of the crossings;"
                                   " no point: out of reach or beyond the data;"
                                   " a cost of 0 sits on the bottom edge"),
                      template=TEMPLATE, legend_title_text="route", height=480)
    return fig


def _panels(curves: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(damage modes, models) of a repair curve frame, in their frame order."""
    return list(dict.fromkeys(curves["damage_mode"])), list(dict.fromkeys(curves["model"]))


def _panel_grid(curves: pd.DataFrame) -> tuple[go.Figure, list, list]:
    """A figure with one panel per damage mode (row) and model (column), and those lists."""
    modes, models = _panels(curves)
    titles = [f"{model} · {MODE_TITLES.get(mode, mode)}" for mode in modes for model in models]
    fig = make_subplots(rows=len(modes), cols=len(models), subplot_titles=titles, vertical_spacing=0.16)
    return fig, modes, models


def plot_repair(curves: pd.DataFrame, *, metric: str = "acc") -> go.Figure:
    """What repair buys back (decision.repair_curves): the metric against damage_frac, one
    line per repair with its seed band, one panel per damage mode (row) and model (column)."""
    fig, modes, models = _panel_grid(curves)
    for row, mode in enumerate(modes, start=1):
        for col, model in enumerate(models, start=1):
            panel = curves[(curves["damage_mode"] == mode) & (curves["model"] == model)]
            for repair, group in panel.groupby("repair", sort=False):
                for trace in _curve(group, x="damage_frac", metric=metric, name=str(repair),
                                    color=REPAIR_COLORS.get(str(repair), _color(str(repair))),
                                    showlegend=row == 1 and col == 1):
                    fig.add_trace(trace, row=row, col=col)
    fig.update_xaxes(title_text=DAMAGE_AXIS_TITLE, tickformat=PERCENT_TICKS)
    fig.update_yaxes(title_text=METRIC_TITLES.get(metric, metric))
    fig.update_layout(title=_title("What repair buys back", "cleanlab prune / relabel against training on the"
                                   " damaged labels as given; bands over seeds"),
                      template=TEMPLATE, legend_title_text="repair", height=380 * len(modes) + 120)
    return fig


def plot_detection(curves: pd.DataFrame) -> go.Figure:
    """Detection precision (solid) and recall (dashed) of the flagged labels against
    damage_frac (decision.detection_curves), one color per repair, panels as `plot_repair`."""
    fig, modes, models = _panel_grid(curves)
    for row, mode in enumerate(modes, start=1):
        for col, model in enumerate(models, start=1):
            panel = curves[(curves["damage_mode"] == mode) & (curves["model"] == model)]
            for repair, group in panel.groupby("repair", sort=False):
                for measure, dash in (("precision", "solid"), ("recall", "dash")):
                    rows = group[group[measure].notna()]
                    if rows.empty:
                        continue
                    for trace in _curve(rows, x="damage_frac", metric=measure, name=f"{repair} {measure}",
                                        color=REPAIR_COLORS.get(str(repair), _color(str(repair))), dash=dash,
                                        showlegend=row == 1 and col == 1):
                        fig.add_trace(trace, row=row, col=col)
    fig.update_xaxes(title_text=DAMAGE_AXIS_TITLE, tickformat=PERCENT_TICKS)
    fig.update_yaxes(title_text="precision / recall of the flagged labels", range=[0, 1.05])
    fig.update_layout(title=_title("How well repair finds the damaged labels",
                                   "precision: flagged labels that were damaged; recall: damaged labels flagged;"
                                   " prune and relabel flag alike, so their lines can coincide"),
                      template=TEMPLATE, legend_title_text="repair", height=380 * len(modes) + 120)
    return fig

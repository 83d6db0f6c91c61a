"""Builders shared by the analysis tests: synthetic tidy results and hand-made Tune
experiment directories (spec.yaml, trial folders, experiment_state JSON in Ray 2.x's layout).

This module holds no tests; the analysis test modules import from it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from datavsmath.analysis.report import write_report
from datavsmath.analysis.schema import DATASET, normalize, to_seed_format

DATA = Path(__file__).parents[1] / "data" / "analysis"
MODELS = ("rf", "xgb", "dnn", "cnn")
# A shortened version of the talk's grid, enough for curves and crossings.
SAMPLE_FRACS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0)
DAMAGE_FRACS = (0.0, 0.1, 0.2, 0.3)
MODEL_SKILL = {"rf": 0.6, "xgb": 0.8, "dnn": 0.9, "cnn": 1.0}


def power_law_metric(sample_frac: float, *, a: float, b: float, c: float) -> float:
    """1 - (a * sample_frac^-b + c): a learning curve with a known threshold crossing."""
    return 1 - (a * sample_frac ** -b + c)


def confusion_for(acc: float, *, n_test: int = 1000) -> list[list[int]]:
    """A 10x10 confusion matrix (rows = true label) with the given accuracy."""
    per_class = n_test // 10
    right = int(round(acc * per_class))
    matrix = np.full((10, 10), 0, dtype=int)
    for i in range(10):
        matrix[i, i] = right
        matrix[i, (i + 1) % 10] = per_class - right
    return matrix.tolist()


def synthetic_results(*, models=MODELS, sample_fracs=SAMPLE_FRACS, damage_fracs=(0.0,), damage_mode="constant",
                      seeds=(0,), noise: float = 0.002) -> pd.DataFrame:
    """A tidy frame of finished trials whose metrics follow power-law learning curves.

    Damage worsens the curve; each seed shifts it by a fixed, symmetric amount.
    """
    rows = []
    for model in models:
        for d in damage_fracs:
            for s in sample_fracs:
                for seed in seeds:
                    shift = noise * (seed - (len(seeds) - 1) / 2)
                    skill = MODEL_SKILL.get(model, 0.7)
                    acc = power_law_metric(s, a=0.03 * (1 + d) / skill, b=0.4, c=0.05 + 0.05 * d) + shift
                    auc = power_law_metric(s, a=0.004 * (1 + 3 * d) / skill, b=0.5, c=0.004 + 0.01 * d) + shift / 4
                    rows.append(dict(
                        trial_id=f"{model}-{s}-{d}-{seed}", status="TERMINATED", model=model, sample_frac=s,
                        damage_frac=d, damage_mode=damage_mode if d > 0 else "none", seed=seed,
                        n_train=int(np.floor(s * DATASET.n_train + 1e-9)), acc=acc, auc=auc,
                        confusion=confusion_for(acc), start_time=pd.Timestamp("2026-01-01T00:00:00Z")
                        + pd.Timedelta(seconds=len(rows)), end_time=pd.Timestamp("2026-01-01T00:00:30Z")
                        + pd.Timedelta(seconds=len(rows))))
    return normalize(pd.DataFrame(rows))


def write_results(df: pd.DataFrame, folder: Path) -> list[Path]:
    """results.parquet, results.csv (confusion as JSON) and seed_results.csv of a tidy frame,
    as the sweep runner writes them next to the experiment."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / name for name in ("results.parquet", "results.csv", "seed_results.csv")]
    df.to_parquet(paths[0], index=False)
    df.assign(confusion=[None if c is None else json.dumps(c) for c in df["confusion"]]).to_csv(paths[1], index=False)
    to_seed_format(df).to_csv(paths[2], index=False)
    return paths


def with_failures(df: pd.DataFrame) -> pd.DataFrame:
    """Append one ERROR and one MISSING trial to a tidy frame."""
    extra = pd.DataFrame([
        dict(trial_id="err-1", status="ERROR", model="cnn", sample_frac=0.5, damage_frac=0.0, damage_mode="none",
             seed=9, error="ValueError: boom"),
        dict(trial_id=None, status="MISSING", model="rf", sample_frac=0.5, damage_frac=0.0, damage_mode="none",
             seed=9),
    ])
    return normalize(pd.concat([df, normalize(extra)], ignore_index=True))


def full_results(*, seeds=(0, 1)) -> pd.DataFrame:
    """Size sweep for 4 models + random and constant damage sweeps + a cnn size x damage
    cross product, with two failures: every figure and table of the report has data."""
    size = synthetic_results(seeds=seeds)
    damage = [synthetic_results(sample_fracs=(1.0,), damage_fracs=DAMAGE_FRACS, damage_mode=mode, seeds=seeds)
              for mode in ("random", "constant")]
    cross = synthetic_results(models=("cnn",), damage_fracs=DAMAGE_FRACS[1:], damage_mode="constant", seeds=seeds)
    return with_failures(pd.concat([size, *damage, cross], ignore_index=True))


# --- hand-made Tune experiment directories ----------------------------------------------

def spec_yaml(*, models, sample_fracs, damage_fracs, damage_modes, seeds, name="handmade") -> str:
    """A spec.yaml in the sweep spec schema (one grid)."""
    return yaml.safe_dump({"name": name, "model": list(models), "sample_frac": list(sample_fracs),
                           "damage_frac": list(damage_fracs), "damage_mode": list(damage_modes),
                           "seeds": list(seeds)}, sort_keys=False)


def config_of(model: str, sample_frac: float, damage_frac: float, damage_mode: str, seed: int,
              trial: int = 0) -> dict[str, Any]:
    return {"model": model, "sample_frac": sample_frac, "damage_frac": damage_frac, "damage_mode": damage_mode,
            "seed": seed, "trial": trial, "params": {}}


def final_line(config: dict[str, Any], *, acc: float, auc: float, trial_id: str, timestamp: int) -> dict[str, Any]:
    """A finished trial's last result.json line, as the trainable reports it through Tune."""
    n_train = int(np.floor(config["sample_frac"] * DATASET.n_train + 1e-9))
    return {"acc": acc, "auc": auc, "val_acc": acc - 0.01, "n_train": n_train, "n_val": n_train // 5,
            "n_damaged": 0, "fit_seconds": 1.5, "device": "cpu", "per_class_acc": [acc] * 10,
            "confusion": confusion_for(acc), "peak_rss_mb": 300.0, "done": True, "timestamp": timestamp,
            "training_iteration": 3, "trial_id": trial_id, "time_total_s": 1.6, "config": config}


def write_trial(root: Path, *, trial_id: str, config: dict[str, Any], lines: list[dict[str, Any]],
                error: str | None = None) -> str:
    """A trial folder named like Tune's, with params.json, result.json and maybe error.txt."""
    name = f"trainable_{trial_id}_{config['trial']}_seed={config['seed']}_2026-01-01_00-00-00"
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "params.json").write_text(json.dumps(config, indent=2))
    (folder / "result.json").write_text("".join(json.dumps(line) + "\n" for line in lines))
    if error is not None:
        (folder / "error.txt").write_text(error)
    return name


def write_experiment_state(root: Path, trials: list[dict[str, Any]], *, stamp: str = "2026-01-01_00-00-00") -> None:
    """experiment_state-<stamp>.json in Ray 2.x's layout: trial_data = [[trial_json, run_metadata_json]]."""
    data = []
    for t in trials:
        trial_json = json.dumps({"trial_id": t["trial_id"], "status": t["status"], "config": t["config"],
                                 "relative_logdir": t.get("logdir"), "trainable_name": "trainable"})
        metadata = json.dumps({"start_time": t.get("start_time", 1_767_225_600.0),
                               "last_result_time": t.get("last_result_time", float("-inf")),
                               "error_filename": "error.txt" if t["status"] == "ERROR" else None})
        data.append([trial_json, metadata])
    (root / f"experiment_state-{stamp}.json").write_text(json.dumps({"trial_data": data, "runner_data": {},
                                                                     "stats": {"start_time": 1_767_225_600.0}}))


# --- a report with every figure -----------------------------------------------------------

LABELS = np.repeat(np.arange(10), 300)


def build_full_report(folder: Path) -> Path:
    """Every figure and table: full results + spec.yaml + a reference CSV exported from
    slightly worse results; returns the HTML path."""
    folder.mkdir(parents=True, exist_ok=True)
    df = full_results()
    write_results(df, folder)
    def grid(models, fracs, damages, modes) -> dict:
        return {"model": list(models), "sample_frac": list(fracs), "damage_frac": list(damages),
                "damage_mode": list(modes)}

    spec = {"name": "report_fixture", "seeds": [0, 1], "grids": [
        grid(MODELS, SAMPLE_FRACS, [0.0], ["none"]),
        grid(MODELS, [1.0], DAMAGE_FRACS, ["random", "constant"]),
        grid(["cnn"], SAMPLE_FRACS, DAMAGE_FRACS, ["constant"])],
        # Less than all of the data, so that buying labels is a route within the dataset's size.
        "report": {"current": {"n": 3000}}}
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    reference = to_seed_format(df).assign(acc=lambda r: r["acc"] - 0.01)
    reference.to_csv(folder / "reference.csv", index=False)
    return write_report(folder / "results.parquet", out=folder / "report.html", reference=folder / "reference.csv",
                        labels=LABELS, n_boot=50)

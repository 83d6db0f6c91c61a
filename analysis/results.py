"""The tidy result files beside an experiment: written atomically, regenerated idempotently."""

from __future__ import annotations

import json

import pandas as pd

from datavsmath.analysis.load import results_from_experiment
from datavsmath.analysis.result_files import to_seed_format
from datavsmath.sweeps.experiment_layout import RESULTS_CSV, RESULTS_PARQUET, SEED_RESULTS_CSV
from datavsmath.trainables import storage


def _csv_ready(df: pd.DataFrame) -> pd.DataFrame:
    """List-valued columns (confusion, per_class_acc) as JSON strings for CSV."""
    out = df.copy()
    for col in out.columns:
        if out[col].map(lambda v: isinstance(v, (list, tuple)) or hasattr(v, "tolist")).any():
            out[col] = out[col].map(lambda v: json.dumps(v.tolist() if hasattr(v, "tolist") else v)
                                    if v is not None and not (isinstance(v, float) and v != v) else None)
    return out


def write_result_files(exp_dir: str) -> tuple[dict[str, str], pd.DataFrame]:
    """Regenerate results.parquet, results.csv and seed_results.csv from the experiment dir.

    Returns ({file name: path written}, the tidy frame)."""
    df = results_from_experiment(exp_dir)
    paths = {name: storage.join(exp_dir, name) for name in (RESULTS_PARQUET, RESULTS_CSV, SEED_RESULTS_CSV)}
    storage.atomic_write(paths[RESULTS_PARQUET], lambda b: df.to_parquet(b, index=False))
    storage.atomic_write(paths[RESULTS_CSV], lambda b: _csv_ready(df).to_csv(b, index=False))
    storage.atomic_write(paths[SEED_RESULTS_CSV], lambda b: to_seed_format(df).to_csv(b, index=False))
    return paths, df

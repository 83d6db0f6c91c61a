"""Tidy result files next to the experiment: written atomically, regenerated idempotently."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Callable

import pandas as pd
import pyarrow.fs

RESULT_FILES = ("results.parquet", "results.csv", "seed_results.csv")


def _atomic_write(path: str, write: Callable[[io.BytesIO], None]) -> None:
    """Write to a temp file beside `path`, then rename: readers never see half a file."""
    buffer = io.BytesIO()
    write(buffer)
    if "://" not in path:
        tmp = Path(f"{path}.tmp{os.getpid()}")
        tmp.write_bytes(buffer.getvalue())
        tmp.replace(path)
        return
    # Object stores have no rename; a single PUT is already all-or-nothing.
    fs, inner = pyarrow.fs.FileSystem.from_uri(path)
    with fs.open_output_stream(inner) as f:
        f.write(buffer.getvalue())


def _csv_ready(df: pd.DataFrame) -> pd.DataFrame:
    """List-valued columns (confusion, per_class_acc) as JSON strings for CSV."""
    out = df.copy()
    for col in out.columns:
        if out[col].map(lambda v: isinstance(v, (list, tuple)) or hasattr(v, "tolist")).any():
            out[col] = out[col].map(lambda v: json.dumps(v.tolist() if hasattr(v, "tolist") else v)
                                    if v is not None and not (isinstance(v, float) and v != v) else None)
    return out


def write_result_files(exp_dir: str) -> tuple[dict[str, str], pd.DataFrame]:
    """Regenerate results.parquet, results.csv and seed_results.csv from the experiment dir."""
    from analysis.load import results_from_experiment, to_seed_format

    df = results_from_experiment(exp_dir)
    paths = {name: f"{exp_dir.rstrip('/')}/{name}" for name in RESULT_FILES}
    _atomic_write(paths["results.parquet"], lambda b: df.to_parquet(b, index=False))
    _atomic_write(paths["results.csv"], lambda b: _csv_ready(df).to_csv(b, index=False))
    _atomic_write(paths["seed_results.csv"], lambda b: to_seed_format(df).to_csv(b, index=False))
    return paths, df

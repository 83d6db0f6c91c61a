"""Full data, the talk's settings: every model lands near its published accuracy.

Marked slow (~10-15 min on 2 cores): `make test` leaves it out; `make test-slow` runs it.
"""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import run_cli

# The talk's full-data accuracies (its size curves at 100 %), and the tolerance of the issue.
TALK_FULL_DATA_ACC = {"rf": 0.87, "xgb": 0.90, "dnn": 0.88, "cnn": 0.92}
TOLERANCE = 0.015
TIMEOUT_S = 45 * 60
# The dnn's full-data accuracy moves by about +-0.01 between seeds (0.8646, 0.8834, 0.8876 for
# seeds 0-2 on 2026-11-29), so it is compared as a 3-seed mean; it costs ~1 min more.
DNN_SEEDS_SPEC = """\
name: dnn_seeds
model: [dnn]
sample_frac: [1.0]
damage_frac: [0.0]
damage_mode: [none]
seeds: [0, 1, 2]
"""


def _sweep(spec: str, storage) -> pd.DataFrame:
    proc = run_cli("sweep", spec, "--storage", str(storage), "--no-dashboard", "--no-report", timeout=TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr[-3000:]
    name = "full_data" if spec == "full_data" else "dnn_seeds"
    return pd.read_parquet(storage / name / "results.parquet")


@pytest.mark.slow
def test_full_data_accuracy_matches_the_talk(tmp_path):
    df = _sweep("full_data", tmp_path).set_index("model")
    spec_path = tmp_path / "dnn_seeds.yaml"
    spec_path.write_text(DNN_SEEDS_SPEC)
    dnn = _sweep(str(spec_path), tmp_path)
    assert len(dnn) == 3 and (dnn["status"] == "TERMINATED").all()
    acc = {**df["acc"].to_dict(), "dnn": float(dnn["acc"].mean())}
    for model, talk in TALK_FULL_DATA_ACC.items():
        assert abs(acc[model] - talk) <= TOLERANCE, (model, acc[model], talk)
    assert (df["n_train"] + df["n_val"] == 60000).all()

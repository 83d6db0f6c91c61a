"""Native threads inside a trial follow the trial's CPUs: Ray's workers import
scikit-learn (and with it its OpenMP runtime) before a trial's OMP_NUM_THREADS is set, so its
OpenMP pool had one thread per core of the machine in a 1-CPU trial. A user's estimator
records, in its fit inside the real trials, every native thread pool threadpoolctl finds and
torch's threads."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sklearn.datasets import load_digits

import datavsmath as dvm


def _probing_estimator(folder: Path) -> Any:
    """HistGradientBoosting (OpenMP) whose fit first writes threadpoolctl.threadpool_info()
    and torch's thread count to `folder`/<pid>-<n>.json. Its class is local, as a notebook's
    is, so it reaches the workers pickled."""
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.ensemble import HistGradientBoostingClassifier

    class ThreadProbe(ClassifierMixin, BaseEstimator):
        def __init__(self, folder: str = "", max_iter: int = 10) -> None:
            self.folder, self.max_iter = folder, max_iter

        def fit(self, x: Any, y: Any) -> ThreadProbe:
            import torch
            from threadpoolctl import threadpool_info

            record = {"pid": os.getpid(), "pools": threadpool_info(), "torch": torch.get_num_threads()}
            path = Path(self.folder) / f"{os.getpid()}-{len(list(Path(self.folder).iterdir()))}.json"
            path.write_text(json.dumps(record))
            self.model_ = HistGradientBoostingClassifier(max_iter=self.max_iter).fit(x, y)
            self.classes_ = self.model_.classes_
            return self

        def predict_proba(self, x: Any) -> Any:
            return self.model_.predict_proba(x)

    folder.mkdir()
    return ThreadProbe(folder=str(folder))


def test_native_thread_pools_in_a_trial_follow_its_cpus(tmp_path):
    probes = tmp_path / "probes"
    try:
        res = dvm.sweep(load_digits(as_frame=True).frame, label="target", models={"probe": _probing_estimator(probes)},
                        sample_frac=[0.5, 1.0], storage=str(tmp_path), name="threads", live=False, report=False,
                        verbose=0)
    finally:
        dvm.shutdown()
    assert (res.frame["status"] == "TERMINATED").all(), res.errors
    finals = [json.loads(f.read_text().splitlines()[-1]) for f in Path(res.path).glob("*/result.json")]
    threads = {final["pid"]: final["threads"] for final in finals}  # the trial's process and CPUs
    records = [json.loads(p.read_text()) for p in probes.iterdir()]
    in_trials = [r for r in records if r["pid"] in threads]  # the driver's preflight fit is not a trial
    assert len(in_trials) == len(res.frame) == 2
    for record in in_trials:
        cpus = threads[record["pid"]]
        pools = {(p["user_api"], p["internal_api"], p["filepath"]): p["num_threads"] for p in record["pools"]}
        assert any(api == "openmp" for api, _, _ in pools), pools  # scikit-learn's own OpenMP is there
        assert set(pools.values()) == {cpus}, pools
        assert record["torch"] == cpus

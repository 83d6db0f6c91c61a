"""The `confusion` damage mode's reference confusion matrix: computed once per sweep in the
driver, or kept from the experiment on --resume / --extend."""

from __future__ import annotations

import json
import os
from typing import Any

from datavsmath.sweeps.experiment_layout import CONFUSION_REFERENCE_FILE, experiment_parts_of
from datavsmath.sweeps.options import SweepError
from datavsmath.sweeps.spec import Spec
from datavsmath.trainables import storage
from datavsmath.trainables.datasets.common import Dataset


def confusion_reference(spec: Spec, data: Dataset, *, exp_dir: str, reuse: bool) -> tuple[dict[str, Any], bool]:
    """(record, fresh): the `confusion` damage mode's reference (ReferenceConfusion.to_record():
    counts, model, n_samples, folds, seed, accuracy), once per sweep in the driver.

    On `reuse` (--resume, --extend) an experiment that already holds one made with the spec's settings
    keeps it (fresh False), so that every trial of the experiment draws from the same matrix;
    else it is computed on the clean training data (deterministic: seed 0) with this machine's
    CPUs (fresh True: the caller writes it into the Tune experiment it starts)."""
    from datavsmath.trainables.damage import confusion_matrix_of

    settings = spec.confusion
    n_samples = min(int(settings["n_samples"]), data.n_train)
    for part in reversed(experiment_parts_of(exp_dir) if reuse else []):
        path = storage.join(part, CONFUSION_REFERENCE_FILE)
        if storage.exists(path):
            stored = json.loads(storage.read_text(path))
            if stored.get("model") == settings["model"] and stored.get("n_samples") == n_samples:
                return stored, False
    threads = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
    try:
        reference = confusion_matrix_of(data.x_train, data.y_train, n_classes=data.n_classes,
                                        model=settings["model"], n_samples=n_samples, seed=0, n_jobs=threads)
    except ValueError as exc:
        raise SweepError(f"confusion: the reference model could not be cross-validated: {exc}") from exc
    return reference.to_record(), True

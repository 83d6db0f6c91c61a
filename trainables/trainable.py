"""The one Tune trainable: the only file in trainables/ that talks to Ray.

One call trains one (model, sample_frac, damage_frac, damage_mode, seed) combination on the
shared dataset and reports per-epoch progress (nets) and the final metrics.
"""

from __future__ import annotations

import os
import pickle
import resource
import socket
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ray
from ray import tune

from datavsmath.trainables.allocator import GLIBC_TUNABLES_ENV, keep_freed_memory
from datavsmath.trainables.audit_vote import DEFAULT_VOTE_K
from datavsmath.trainables.damage import make_training_set, realized_noise
from datavsmath.trainables.datasets.common import Dataset
from datavsmath.trainables.device import gpu_memory_fraction, pick_device
from datavsmath.trainables.faults import FAULT_ENV, InjectedFault, fault_spec
from datavsmath.trainables.label_noise import corrected_accuracy, damaged_test_labels, repeated_labels
from datavsmath.trainables.metrics import evaluate
from datavsmath.trainables.models import build_model
from datavsmath.trainables.models.user import UserModel
from datavsmath.trainables.repair import DEFAULT_FOLDS, DEFAULT_REPAIR_MODEL, NO_REPAIR, VOTE, repair_labels
from datavsmath.trainables.threads import native_threads
from datavsmath.trainables.trial_files import FAULT_MARKER, STATE_FILE

WARNING_CHARS = 500  # of a warning's message kept in the trial's result


def _trial_cpus() -> int:
    """Whole CPUs this trial asked for (at least 1): the thread count for every library."""
    request = tune.get_context().get_trial_resources().required_resources
    return max(1, int(request.get("CPU", 1)))


def _trial_gpu_share() -> float:
    return float(tune.get_context().get_trial_resources().required_resources.get("GPU", 0.0))


def _choose_device() -> str:
    """cuda only when Ray assigned GPU ids and CUDA works (datavsmath.trainables.device.pick_device)."""
    gpu_ids = [str(g) for g in ray.get_gpu_ids()]
    cuda_available = False
    if gpu_ids:
        # Lazy: torch is ~1.6 s and ~470 MB of import, which trials of trees and of a user's
        # estimator (and the driver, which imports this module) never need.
        import torch

        cuda_available = torch.cuda.is_available()
    device, warning = pick_device(gpu_ids, cuda_available=cuda_available)
    if warning:
        warnings.warn(warning, RuntimeWarning, stacklevel=2)
    if device == "cuda":
        torch.cuda.set_per_process_memory_fraction(gpu_memory_fraction(_trial_gpu_share()))
    return device


def _maybe_inject_fault(config: dict[str, Any], epoch: int) -> None:
    spec = fault_spec(config, os.environ.get(FAULT_ENV, ""))
    if spec is None or spec[0] != epoch:
        return
    marker = Path(tune.get_context().get_trial_dir()) / FAULT_MARKER
    if spec[1] or not marker.exists():
        marker.write_text(f"epoch {epoch}\n")
        raise InjectedFault(f"{FAULT_ENV}: injected fault at epoch {epoch} for {config}")


def _restore_state() -> dict[str, Any] | None:
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as folder:
        with open(Path(folder) / STATE_FILE, "rb") as f:
            return pickle.load(f)


class _EpochReporter:
    """The nets' on_epoch callback: reports every epoch (TensorBoard curves, progress) and
    checkpoints once ``period_s`` seconds passed since the last checkpoint (0: every epoch),
    so a retried or resumed trial continues from its last checkpoint."""

    def __init__(self, config: dict[str, Any], *, period_s: float) -> None:
        self.config, self.period_s = config, period_s
        self.last_checkpoint = time.monotonic()
        self.seconds = 0.0  # spent in reporting and checkpointing: the trial's Tune overhead
        self.checkpoints = 0

    def __call__(self, metrics: dict[str, Any], state: dict[str, Any]) -> None:
        now = time.monotonic()
        if now - self.last_checkpoint >= self.period_s:
            _report_with_checkpoint(metrics, state)
            self.last_checkpoint = time.monotonic()
            self.checkpoints += 1
        else:
            tune.report(dict(metrics))
        self.seconds += time.monotonic() - now
        # Raised after the report, so a checkpoint of this epoch (if due) exists for the retry.
        _maybe_inject_fault(self.config, int(metrics["epoch"]))


def _report_with_checkpoint(metrics: dict[str, Any], state: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        with open(Path(folder) / STATE_FILE, "wb") as f:
            pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
        tune.report(dict(metrics), checkpoint=tune.Checkpoint.from_directory(folder))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _placement() -> dict[str, Any]:
    """Where the trial ran: evidence for GPU packing and multi-node tests."""
    return {"gpu_ids": [str(g) for g in ray.get_gpu_ids()],
            "node_id": ray.get_runtime_context().get_node_id(),
            "hostname": socket.gethostname(), "pid": os.getpid(),
            "glibc_tunables": os.environ.get(GLIBC_TUNABLES_ENV, "")}  # the malloc policy it started with


def _repair(config: dict[str, Any], *, data: Dataset, subset: Any, clean: Any, settings: dict[str, Any],
            transition: Any, threads: int) -> Any:
    """The trial's repair (config `repair`) of its damaged training set; `vote` first draws each
    item's vote_k labels from the same damage process (label_noise.repeated_labels)."""
    settings = {"model": DEFAULT_REPAIR_MODEL, "folds": DEFAULT_FOLDS, **settings}
    repair, votes = config.get("repair", NO_REPAIR), None
    if repair == VOTE:
        votes = repeated_labels(clean, subset.labels, k=int(settings.get("vote_k", DEFAULT_VOTE_K)),
                                n_classes=data.n_classes,
                                damage_frac=config["damage_frac"], damage_mode=config["damage_mode"],
                                seed=config["seed"], index=subset.indices, n_total=len(data.y_train),
                                transition=transition)
    extra = {"audit_frac": float(settings["audit_frac"])} if "audit_frac" in settings else {}
    return repair_labels(data.x_train[subset.indices], subset.labels, repair=repair, n_classes=data.n_classes,
                         seed=config["seed"], damaged=subset.damaged, clean_labels=clean, model=settings["model"],
                         folds=int(settings["folds"]), n_jobs=threads, votes=votes, **extra)


def _noisy_test_scores(config: dict[str, Any], *, data: Dataset, proba: Any, transition: Any) -> dict[str, Any]:
    """acc_test_damaged (on test labels damaged as the training labels are), acc_test_corrected
    (that accuracy corrected through the mode's transition matrix; NaN where it is singular)
    and test_noise_rate (the share of test labels damaged)."""
    labels, damaged = damaged_test_labels(data.y_test, n_classes=data.n_classes, damage_frac=config["damage_frac"],
                                          damage_mode=config["damage_mode"], seed=config["seed"],
                                          transition=transition)
    noisy = evaluate(labels, proba, n_classes=data.n_classes)
    try:
        corrected = corrected_accuracy(noisy["confusion"], quality=1.0 - config["damage_frac"],
                                       damage_mode=config["damage_mode"], transition=transition)
    except ValueError:  # singular: the damaged labels say nothing of the true ones
        corrected = float("nan")
    return {"acc_test_damaged": noisy["acc"], "acc_test_corrected": corrected,
            "test_noise_rate": float(damaged.mean()) if len(damaged) else float("nan")}


def train_trial(config: dict[str, Any], *, data: Dataset, checkpoint_period_s: float,
                transitions: dict[str, Any] | None = None, repair_model: dict[str, Any] | None = None,
                user_models: Mapping[str, UserModel] | None = None, damage_test: bool = False) -> None:
    """Train and evaluate one combination. `data` arrives zero-copy and read-only from the
    object store: only copies (the subset) are ever written. Nets checkpoint after an epoch
    once ``checkpoint_period_s`` seconds (0: every epoch) passed since the last one.

    transitions: damage mode -> its K x K matrix, for the transition modes (`matrix`: the
    spec's T; `confusion`: the reference model's confusion counts, computed once by the driver).
    repair_model: {model, folds} of the repair's cheap model (default rf, 5 folds), and the
    budgets of `audit` and `vote` (audit_frac, vote_k; trainables.audit_vote's defaults); the
    repair (config `repair`, default none) runs on the damaged training set before the fit,
    on the trial's threads. user_models: the spec's own models, name -> UserModel; a trial of
    one builds it from there (its config's `overrides` is only its record). damage_test: the
    test labels are damaged as the training labels are, and the accuracy on them
    (acc_test_damaged) and corrected to a clean test set (acc_test_corrected) are recorded
    beside `acc`, which is always the clean test set's."""
    trial_start = time.time()
    keep_freed_memory()  # the worker process's malloc policy, once per process
    _maybe_inject_fault(config, 0)  # epoch 0: before training, so trees can be faulted too
    threads = _trial_cpus()
    # The worker loaded its OpenMP and BLAS runtimes before Ray set this trial's
    # OMP_NUM_THREADS: each is set to the trial's CPUs here, and put back after it.
    with native_threads(threads):
        _train(config, data=data, checkpoint_period_s=checkpoint_period_s, transitions=transitions,
               repair_model=repair_model, user_models=user_models, threads=threads, trial_start=trial_start,
               damage_test=damage_test)


def _train(config: dict[str, Any], *, data: Dataset, checkpoint_period_s: float,
           transitions: dict[str, Any] | None, repair_model: dict[str, Any] | None,
           user_models: Mapping[str, UserModel] | None, threads: int, trial_start: float,
           damage_test: bool = False) -> None:
    """train_trial's work on `threads` threads: the training set, its repair, the fit, the
    evaluation and the final report."""
    device = _choose_device()
    subset = make_training_set(data.y_train, n_classes=data.n_classes, sample_frac=config["sample_frac"],
                               damage_frac=config["damage_frac"],
                               damage_mode=config["damage_mode"], seed=config["seed"],
                               transition=(transitions or {}).get(config["damage_mode"]))
    clean = data.y_train[subset.indices]
    noise = realized_noise(clean, subset.labels, n_classes=data.n_classes)
    fixed = _repair(config, data=data, subset=subset, clean=clean, settings=repair_model or {},
                    transition=(transitions or {}).get(config["damage_mode"]), threads=threads)
    user = (user_models or {}).get(config["model"])
    model = build_model(config["model"] if user is None else user, n_classes=data.n_classes,
                        input_shape=data.input_shape, params=None if user else config.get("overrides") or None,
                        threads=threads, device=device, seed=config["seed"])
    reporter = _EpochReporter(config, period_s=checkpoint_period_s)
    # Warnings of the fit (a ConvergenceWarning, ...) are counted for the user, who never sees a worker's log.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        info = model.fit(data.x_train[subset.indices[fixed.keep]], fixed.kept_labels, on_epoch=reporter,
                         resume_state=_restore_state())
        fit_seconds = time.perf_counter() - start
        proba = model.predict_proba(data.x_test)
    scores = evaluate(data.y_test, proba, n_classes=data.n_classes)
    if damage_test:
        scores.update(_noisy_test_scores(config, data=data, proba=proba,
                                         transition=(transitions or {}).get(config["damage_mode"])))
    final: dict[str, Any] = {
        **scores,
        "val_acc": float(info.get("val_acc", float("nan"))),
        "epochs_done": int(info.get("epochs_done", 0)),
        "n_train": int(info["n_fit"]),
        "n_val": int(info["n_val"]),
        "n_damaged": subset.n_damaged,
        **noise.to_record(),
        **{k: v for k, v in fixed.stats().items() if k != "n_train"},  # n_train: the rows the model fit
        "fit_seconds": fit_seconds,
        "report_seconds": reporter.seconds,
        "checkpoints": reporter.checkpoints,
        "device": device,
        "threads": threads,
        **{k: info[k] for k in ("n_jobs", "nthread", "torch_threads") if k in info},  # each library's threads
        **_placement(),
        "trial_start": trial_start,
        "trial_end": time.time(),
        "peak_rss_mb": _peak_rss_mb(),
        "dataset": data.name,
        "dataset_fingerprint": data.fingerprint,  # computed in the driver, arrives with the data
        "warning_counts": dict(Counter(w.category.__name__ for w in caught)),
        # each category's first message, so that the counted warnings can be read (Results.warnings)
        "warning_texts": {w.category.__name__: str(w.message)[:WARNING_CHARS] for w in reversed(caught)},
        "done": True,
    }
    tune.report(final)

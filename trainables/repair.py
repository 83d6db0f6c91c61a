"""Label repair with cleanlab: find the likely-wrong labels of a training set, then drop or fix them.

The out-of-fold predicted probabilities come from `folds`-fold stratified cross-validation
(sklearn's StratifiedKFold, shuffled with the seed, and cross_val_predict) of a cheap model
on the damaged training set; cleanlab's `find_label_issues` (confident learning, default
filter prune_by_noise_rate) flags the issues. Nothing of confident learning is written here.

Repairs (REPAIRS): `none` trains on the labels as given and runs nothing; `prune` drops the
flagged samples; `relabel` replaces each flagged label by the out-of-fold argmax; `audit`
checks the labels cleanlab doubts most and sets them to the true ones, up to `audit_frac` of
the training labels (a ranked audit, datavsmath.trainables.audit_vote); `vote` takes each
item's majority of k labels from the same damage process (`votes`, labels bought: n (k - 1)).
Each records what it cost (n_audited, n_bought) and what it left (n_wrong: wrong labels kept).

The cheap model (REPAIR_MODELS) defaults to `rf`, measured on Fashion-MNIST, 3000 rows
(sample_frac 0.05, seed 0), 30 % damage, 5 folds, 2 cores:

    model                             CV seconds  constant: precision / recall  random: precision / recall
    rf (100 trees, n_jobs 2)             5.9 / 6.5        0.78 / 0.87                  0.79 / 0.88
    logreg (C 0.1, 100 lbfgs iters)      6.0 / 7.4        0.64 / 0.81                  0.75 / 0.88
    logreg (C 1, 200 lbfgs iters)       11.9 / 11.1       0.50 / 0.74                  0.63 / 0.89

The forest is as cheap as the regularised logistic regression, scales with threads, and
finds the damage more precisely (its out-of-fold argmax agrees with the clean labels on
79 % against 71 % under constant damage); a weakly regularised logistic regression fits the
noise and is both slower and worse. cleanlab itself takes 0.05 s of it.

The inputs are prepared as the trial's own models prepare them (`repair_features`): flattened,
uint8 pixels scaled to [0, 1], features of a table as they are; the logistic regression
standardises a table's features first (its C = 0.1 penalty assumes unit-scale inputs), which
the forest does not need.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from datavsmath.trainables.audit_vote import AUDIT_FRACS, DEFAULT_AUDIT_FRAC, majority_vote, ranked_audit
from datavsmath.trainables.checks import AT_LEAST_ONE, Interval, check_choice, check_int, check_number
from datavsmath.trainables.models.common import flat_float32

NO_REPAIR = "none"  # the repair axis's value for labels used as they are
AUDIT, VOTE = "audit", "vote"  # the ranked audit and repeated labels with a majority vote
REPAIRS = (NO_REPAIR, "prune", "relabel", AUDIT, VOTE)
# Repairs that run cleanlab on the cheap model's out-of-fold probabilities (a vote needs neither).
MODEL_REPAIRS = ("prune", "relabel", AUDIT)
DEFAULT_REPAIR_MODEL = "rf"
DEFAULT_FOLDS = 5
AT_LEAST_TWO_FOLDS = Interval(2, None, closed="left")


def _rf(*, seed: int, n_jobs: int, pixels: bool) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=100, n_jobs=n_jobs, random_state=seed)


def _logreg(*, seed: int, n_jobs: int, pixels: bool) -> Any:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=0.1, max_iter=100, random_state=seed)
    if pixels:  # pixels in [0, 1] are already on one scale
        return model
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), model)


# name -> factory(seed=, n_jobs=, pixels=) of an unfitted sklearn classifier with predict_proba;
# pixels: the inputs are uint8 pixels (scaled to [0, 1]), else a table's features.
REPAIR_MODELS: dict[str, Callable[..., Any]] = {"rf": _rf, "logreg": _logreg}


def repair_features(x: np.ndarray) -> np.ndarray:
    """x (n, ...) as the trial's models see it: float32 (n, prod(...)), uint8 pixels scaled to
    [0, 1], any other dtype (a table's features) as it is."""
    return flat_float32(np.asarray(x))


def check_class_counts(labels: np.ndarray, *, n_classes: int, folds: int) -> None:
    """ValueError unless every class 0..K-1 has at least `folds` labels (absent ones included):
    stratified folds then leave every class in every training fold, so the out-of-fold
    probabilities have all K columns."""
    labels = np.asarray(labels, dtype=np.int64)
    outside = labels[(labels < 0) | (labels >= n_classes)]
    if len(outside):
        raise ValueError(f"labels must be in [0, {n_classes}), got {int(outside[0])}")
    counts = np.bincount(labels, minlength=n_classes)
    short = np.flatnonzero(counts < folds)
    if len(short):
        c = int(short[0])
        raise ValueError(f"repair with folds={folds} needs at least {folds} labels of every class; "
                         f"class {c} has {counts[c]} (of {len(labels)} training labels)")


def out_of_fold_proba(x: np.ndarray, labels: np.ndarray, *, n_classes: int, model: str = DEFAULT_REPAIR_MODEL,
                      folds: int = DEFAULT_FOLDS, seed: int = 0, n_jobs: int = 1) -> np.ndarray:
    """Predicted probabilities of every sample by a model that never saw it: float64 (n, K).

    x: (n, ...) inputs (prepared by `repair_features`); labels: int (n,) in [0, K), every class
    at least `folds` times (folds >= 2, default 5). model in REPAIR_MODELS (default rf).
    Deterministic given seed (fold split and model); n_jobs >= 1 threads.
    """
    check_choice("repair_model", model, REPAIR_MODELS)
    check_int("folds", folds, AT_LEAST_TWO_FOLDS)
    check_int("n_jobs", n_jobs, AT_LEAST_ONE)
    check_class_counts(labels, n_classes=n_classes, folds=folds)
    from joblib import parallel_config
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    x = np.asarray(x)
    estimator = REPAIR_MODELS[model](seed=seed, n_jobs=n_jobs, pixels=x.dtype == np.uint8)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    # The forest uses its threads itself; the logistic regression's folds run on threads.
    fold_jobs = 1 if model == "rf" else n_jobs
    with warnings.catch_warnings(), parallel_config(backend="threading"):
        warnings.simplefilter("ignore", category=ConvergenceWarning)  # logreg's 100 iterations are by choice
        proba = cross_val_predict(estimator, repair_features(x), np.asarray(labels), cv=cv, method="predict_proba",
                                  n_jobs=fold_jobs)
    return np.asarray(proba, dtype=np.float64)


def detection_scores(flagged: np.ndarray, damaged: np.ndarray) -> tuple[float, float]:
    """(precision, recall) of `flagged` against the known `damaged`, both bool (n,).

    precision = |flagged & damaged| / |flagged|, NaN when nothing is flagged (a detector that
    flags nothing made no claim to score; 1 would flatter it, 0 would punish a clean set);
    recall = |flagged & damaged| / |damaged|, NaN when nothing is damaged. Means over
    seeds should skip NaN (np.nanmean).
    """
    flagged, damaged = np.asarray(flagged, dtype=bool), np.asarray(damaged, dtype=bool)
    if flagged.shape != damaged.shape:
        raise ValueError(f"flagged and damaged must have the same shape, got {flagged.shape} and {damaged.shape}")
    hits = int((flagged & damaged).sum())
    n_flagged, n_damaged = int(flagged.sum()), int(damaged.sum())
    precision = hits / n_flagged if n_flagged else float("nan")
    recall = hits / n_damaged if n_damaged else float("nan")
    return precision, recall


@dataclass(frozen=True)
class Repair:
    """One training set after repair.

    keep: bool (n,), the rows the trial's model trains on (all but the flagged for `prune`).
    labels: int64 (n,), the labels after repair (`relabel`: flagged rows hold the out-of-fold
        argmax); train on x[keep], labels[keep] (see `kept_labels`).
    flagged: bool (n,), what cleanlab flagged (nothing for `none`); for `audit` the labels
        audited, for `vote` the labels the majority changed.
    repair: the repair (REPAIRS); model, folds: the cheap model and the fold count ("none"
        and 0 for `none`, which runs nothing); repair_seconds: wall time of CV + cleanlab.
    precision, recall: detection_scores against the known damaged mask (NaN without it, and
        for `none`, which detects nothing).
    relabel_acc: for `relabel`, the fraction of flagged rows whose new label is the clean one
        (NaN for other repairs, nothing flagged, or no clean labels).
    label_acc: the fraction of the kept labels equal to the clean ones (NaN without them).
    audit_frac: the audit budget (`audit`; NaN otherwise); n_audited: labels checked;
    vote_k: labels per item (`vote`; 0 otherwise); n_bought: labels bought beyond the given;
    n_wrong: kept labels that differ from the clean ones (None without them).
    cleanlab_noise, cleanlab_joint_noise: cleanlab's estimates of the share of wrong labels
    as given (count.num_label_issues / n, and the off-diagonal mass of count.estimate_joint),
    for the repairs that read the cheap model (MODEL_REPAIRS); NaN for the others.
    """

    keep: np.ndarray
    labels: np.ndarray
    flagged: np.ndarray
    repair: str
    model: str
    folds: int
    repair_seconds: float
    precision: float
    recall: float
    relabel_acc: float
    label_acc: float
    audit_frac: float = float("nan")
    n_audited: int = 0
    vote_k: int = 0
    n_bought: int = 0
    n_wrong: int | None = None
    cleanlab_noise: float = float("nan")
    cleanlab_joint_noise: float = float("nan")

    @property
    def n_flagged(self) -> int:
        return int(self.flagged.sum())

    @property
    def n_train(self) -> int:
        return int(self.keep.sum())

    @property
    def kept_labels(self) -> np.ndarray:
        return self.labels[self.keep]

    def stats(self) -> dict[str, Any]:
        """Plain values for a trial's results."""
        return {"repair": self.repair, "repair_model": self.model, "repair_folds": self.folds,
                "n_flagged": self.n_flagged, "n_train": self.n_train, "repair_seconds": self.repair_seconds,
                "detection_precision": self.precision, "detection_recall": self.recall,
                "relabel_acc": self.relabel_acc, "label_acc": self.label_acc, "audit_frac": self.audit_frac,
                "n_audited": self.n_audited, "vote_k": self.vote_k, "n_bought": self.n_bought,
                "n_wrong": self.n_wrong, "cleanlab_noise": self.cleanlab_noise,
                "cleanlab_joint_noise": self.cleanlab_joint_noise}


def _fraction(hits: np.ndarray) -> float:
    return float(hits.mean()) if hits.size else float("nan")


def _flag(x: np.ndarray, labels: np.ndarray, *, n_classes: int, model: str, folds: int, seed: int,
          n_jobs: int) -> tuple[np.ndarray, np.ndarray]:
    """(flagged bool (n,), out-of-fold probabilities (n, K)): cleanlab on the CV probabilities."""
    from cleanlab.filter import find_label_issues

    proba = out_of_fold_proba(x, labels, n_classes=n_classes, model=model, folds=folds, seed=seed, n_jobs=n_jobs)
    return np.asarray(find_label_issues(labels, proba, n_jobs=1), dtype=bool), proba


def _label_scores(new_labels: np.ndarray, keep: np.ndarray, flagged: np.ndarray, *, repair: str,
                  clean_labels: np.ndarray | None) -> tuple[float, float, int | None]:
    """(relabel_acc, label_acc, n_wrong) against the clean labels; NaN / None where undefined (see Repair)."""
    if clean_labels is None:
        return float("nan"), float("nan"), None
    clean = np.asarray(clean_labels, dtype=np.int64)
    if clean.shape != new_labels.shape:
        raise ValueError(f"clean_labels must have shape {new_labels.shape}, got {clean.shape}")
    relabel_acc = _fraction(new_labels[flagged] == clean[flagged]) if repair == "relabel" else float("nan")
    return relabel_acc, _fraction(new_labels[keep] == clean[keep]), int((new_labels[keep] != clean[keep]).sum())


def noise_estimates(labels: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """cleanlab's estimates of the share of wrong `labels` (n,) under out-of-fold `proba` (n, K):
    {cleanlab_noise: count.num_label_issues / n, cleanlab_joint_noise: 1 - trace(estimate_joint)}."""
    from cleanlab.count import estimate_joint, num_label_issues

    labels = np.asarray(labels, dtype=np.int64)
    if not len(labels):
        return {"cleanlab_noise": float("nan"), "cleanlab_joint_noise": float("nan")}
    joint = estimate_joint(labels, proba)
    return {"cleanlab_noise": float(num_label_issues(labels, proba) / len(labels)),
            "cleanlab_joint_noise": float(1.0 - np.trace(joint))}


def _vote(labels: np.ndarray, votes: np.ndarray | None, *, n_classes: int, seed: int) -> np.ndarray:
    """`vote`'s labels: the majority of `votes` (n, k), whose column 0 is the given labels."""
    if votes is None:
        raise ValueError("repair 'vote' needs each item's k labels (votes=, an (n, k) array), got None")
    votes = np.asarray(votes, dtype=np.int64)
    if votes.ndim != 2 or votes.shape[0] != len(labels) or votes.shape[1] < 2:
        raise ValueError(f"votes must have shape ({len(labels)}, k) with k >= 2, got {votes.shape}")
    return majority_vote(votes, n_classes=n_classes, seed=seed)


def repair_labels(x: np.ndarray, labels: np.ndarray, *, repair: str, n_classes: int, seed: int,
                  damaged: np.ndarray | None = None, clean_labels: np.ndarray | None = None,
                  model: str = DEFAULT_REPAIR_MODEL, folds: int = DEFAULT_FOLDS, n_jobs: int = 1,
                  audit_frac: float = DEFAULT_AUDIT_FRAC, votes: np.ndarray | None = None) -> Repair:
    """Repair one training set: x (n, ...) inputs, labels int (n,) in [0, K) as given (damaged).

    repair in REPAIRS; `none` returns the set unchanged at no cost. damaged bool (n,) and
    clean_labels int (n,), when known (a sweep's trial knows both), score the repair; `audit`
    needs clean_labels (an audit finds the true label) and audit_frac in (0, 1] (default
    0.1); `vote` needs votes, int (n, k >= 2), each item's k labels (column 0 the given ones;
    label_noise.repeated_labels). model in REPAIR_MODELS (default rf), folds >= 2 (default
    5), n_jobs >= 1 threads. Deterministic given seed. ValueError for a class with fewer than
    `folds` labels, or when `prune` would leave nothing to train on.
    """
    check_choice("repair", repair, REPAIRS)
    labels = np.asarray(labels, dtype=np.int64)
    if repair == AUDIT and clean_labels is None:
        raise ValueError("repair 'audit' needs the true labels (clean_labels=): an audit sets each checked label "
                         "to its true one")
    if repair == AUDIT:
        check_number("audit_frac", audit_frac, AUDIT_FRACS)  # before the cross-validation
    n = len(labels)
    flagged, new_labels, keep = np.zeros(n, dtype=bool), labels.copy(), np.ones(n, dtype=bool)
    seconds, used_model, used_folds, extra = 0.0, NO_REPAIR, 0, dict[str, Any]()
    start = time.perf_counter()
    if repair == VOTE:
        new_labels = _vote(labels, votes, n_classes=n_classes, seed=seed)
        flagged = new_labels != labels
        k = int(np.asarray(votes).shape[1])
        extra = {"vote_k": k, "n_bought": n * (k - 1)}
    elif repair in MODEL_REPAIRS:
        flagged, proba = _flag(x, labels, n_classes=n_classes, model=model, folds=folds, seed=seed, n_jobs=n_jobs)
        used_model, used_folds = model, folds
        extra = noise_estimates(labels, proba)
        if repair == "prune":
            keep = ~flagged
            if not keep.any():
                raise ValueError(f"prune flagged all {n} training labels: nothing is left to train on")
        elif repair == AUDIT:
            new_labels, flagged = ranked_audit(labels, np.asarray(clean_labels), proba, audit_frac=audit_frac)
            extra.update(audit_frac=float(audit_frac), n_audited=int(flagged.sum()))
        else:
            new_labels[flagged] = proba[flagged].argmax(axis=1)
    if repair != NO_REPAIR:
        seconds = time.perf_counter() - start
    precision, recall = float("nan"), float("nan")  # `none` detects nothing: no scores, not recall 0
    if damaged is not None and repair != NO_REPAIR:
        precision, recall = detection_scores(flagged, damaged)
    relabel_acc, label_acc, n_wrong = _label_scores(new_labels, keep, flagged, repair=repair,
                                                    clean_labels=clean_labels)
    return Repair(keep=keep, labels=new_labels, flagged=flagged, repair=repair, model=used_model, folds=used_folds,
                  repair_seconds=seconds, precision=precision, recall=recall, relabel_acc=relabel_acc,
                  label_acc=label_acc, n_wrong=n_wrong, **extra)

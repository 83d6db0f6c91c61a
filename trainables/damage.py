"""Seeded sampling and label damage: numpy, deterministic, no ray (confusion_matrix_of alone trains a model).

Every draw comes from `np.random.default_rng` seeded by the trial's `seed`, with one
independent stream per purpose so that changing one axis never shifts another's draws:

- the subset is the first floor(f * n) indices of a seeded permutation, so subsets are
  nested in `sample_frac` (common random numbers along the size axis);
- the damaged labels are, per class, the round(d * n_c) members with the highest seeded
  priority, so damaged sets are nested in `damage_frac`;
- `random` damage adds a per-sample offset in 1..K-1 fixed by the seed, so a label never
  maps to itself and a sample keeps its wrong label as d grows;
- the transition modes (`matrix`, `confusion`) send a damaged label of class c to class j
  with probability T[c, j] / sum_{i != c} T[c, i] (diagonal ignored): a per-sample uniform
  u in [0, 1), fixed by the seed, is mapped through row c's cumulative distribution, so a
  sample keeps its wrong label as d grows, exactly as for `random`.

K is the dataset's class count, passed in by the caller (the dataset owns it). The
transition matrix T (K x K) is passed in too: `matrix` takes it from the spec, `confusion`
from `confusion_matrix_of` (the one function here that trains a model, via sklearn).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from datavsmath.trainables.checks import UNIT, UNIT_OPEN_LEFT, Interval, check_choice, check_int, check_number, echo

AT_LEAST_TWO = Interval(2, None, closed="left")  # a class count
# Stream ids: rng = default_rng([seed, STREAM]); never reuse one for another purpose.
_STREAM_SUBSET, _STREAM_PRIORITY, _STREAM_OFFSET, _STREAM_DESTINATION, _STREAM_REFERENCE = 0, 1, 2, 3, 4

DamageFn = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


def _damage_random(labels: np.ndarray, offsets: np.ndarray, n_classes: int) -> np.ndarray:
    """label + U{1..K-1} mod K, the offset fixed per sample by the seed."""
    return (labels + offsets) % n_classes


def _damage_constant(labels: np.ndarray, offsets: np.ndarray, n_classes: int) -> np.ndarray:
    """label + 1 mod K: "0 becomes 1, always"."""
    return (labels + 1) % n_classes


NO_DAMAGE = "none"  # the damage_mode axis's value for labels used as they are (damage_frac 0)
# A new damage mode is one function (labels, offsets, n_classes) -> labels, registered here.
DAMAGE_MODES: dict[str, DamageFn | None] = {
    NO_DAMAGE: None,
    "random": _damage_random,
    "constant": _damage_constant,
}


@dataclass(frozen=True)
class TrainingSet:
    """One trial's training data, as positions into the full training set.

    indices: int64 (n,), positions in the full training set, in permutation order
        (so Keras' validation_split, which takes the last rows, holds out a random 20 %).
    labels: int64 (n,), labels after damage.
    damaged: bool (n,), which labels were changed.
    """

    indices: np.ndarray
    labels: np.ndarray
    damaged: np.ndarray

    @property
    def n_damaged(self) -> int:
        return int(self.damaged.sum())


DAMAGED_MODES = tuple(m for m, fn in DAMAGE_MODES.items() if fn is not None)

# Modes whose destinations come from a K x K transition matrix T, passed as `transition`
# to damage_labels / make_training_set; name -> where T comes from. They are kept apart
# from DAMAGE_MODES (the modes that need nothing but the seed), whose names the spec,
# the CLI and the report offer today.
TRANSITION_MODES: dict[str, str] = {
    "matrix": "a K x K transition matrix: row c weighs the classes a damaged label of class c goes to",
    "confusion": "the confusion counts of a cheap reference model on clean data (confusion_matrix_of)",
}
ALL_DAMAGE_MODES = (*DAMAGE_MODES, *TRANSITION_MODES)


def check_damage_mode(damage_mode: str, *, damage_frac: float) -> str:
    """`damage_mode` if it is a known mode (ALL_DAMAGE_MODES) and fits `damage_frac`, else ValueError."""
    check_choice("damage_mode", damage_mode, ALL_DAMAGE_MODES)
    if damage_mode == NO_DAMAGE and damage_frac > 0:
        raise ValueError(f"damage_mode {NO_DAMAGE!r} needs damage_frac 0, got damage_frac {damage_frac:g}")
    return damage_mode


def check_fractions(*, sample_frac: float, damage_frac: float, damage_mode: str) -> None:
    """Raise ValueError naming the parameter, its allowed values and the value received."""
    check_number("sample_frac", sample_frac, UNIT_OPEN_LEFT)
    check_number("damage_frac", damage_frac, UNIT)
    check_damage_mode(damage_mode, damage_frac=damage_frac)


def subset_size(n_total: int, *, sample_frac: float) -> int:
    """floor(sample_frac * n_total): the rows a trial draws from a training set of n_total."""
    # A small epsilon guards against 0.29 * 60000 = 17399.999... in binary floating point.
    return int(np.floor(sample_frac * n_total + 1e-9))


def subset_indices(n_total: int, *, sample_frac: float, seed: int) -> np.ndarray:
    """The first floor(sample_frac * n_total) indices of a seeded permutation of range(n_total).

    sample_frac in (0, 1]. Returns int64 (floor(f * n),), nested in f for a fixed seed.
    """
    check_fractions(sample_frac=sample_frac, damage_frac=0.0, damage_mode=NO_DAMAGE)
    n = subset_size(n_total, sample_frac=sample_frac)
    perm = np.random.default_rng([seed, _STREAM_SUBSET]).permutation(n_total)
    return perm[:n].astype(np.int64)


def _per_sample_draws(n_total: int, *, seed: int, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(priority, offset in 1..K-1) for every position of the full set: fixed by seed alone."""
    priority = np.random.default_rng([seed, _STREAM_PRIORITY]).permutation(n_total)
    offsets = np.random.default_rng([seed, _STREAM_OFFSET]).integers(1, n_classes, size=n_total)
    return priority, offsets


def _destination_draws(n_total: int, *, seed: int) -> np.ndarray:
    """u in [0, 1) for every position of the full set, fixed by seed alone (transition modes).

    Its own stream, drawn only for the transition modes: `random` and `constant` draw
    exactly what they drew before these modes existed."""
    return np.random.default_rng([seed, _STREAM_DESTINATION]).random(n_total)


def _row_text(c: int, class_names: Sequence[str] | None, name: str) -> str:
    label = f"class {c}, {class_names[c]}" if class_names else f"class {c}"
    return f"{name} row {c} ({label})"


def _square_matrix(value: Any, *, n_classes: int, name: str, class_names: Sequence[str] | None) -> np.ndarray:
    """`value` as float64 (K, K) if it is a K x K matrix of finite numbers >= 0, else ValueError."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):  # ragged rows
        arr = np.asarray(None)
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be a {n_classes} x {n_classes} matrix of numbers, got {echo(value)}")
    if arr.shape != (n_classes, n_classes):
        raise ValueError(f"{name} must have shape ({n_classes}, {n_classes}), got {arr.shape}")
    arr = arr.astype(np.float64)
    for problem, bad in (("a non-finite", ~np.isfinite(arr)), ("a negative", arr < 0)):
        if bad.any():
            c, j = (int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"{_row_text(c, class_names, name)} has {problem} entry {arr[c, j]:g} in column {j}")
    return arr


def _off_diagonal(matrix: np.ndarray) -> np.ndarray:
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    return off


def check_transition(transition: Any, *, n_classes: int, class_names: Sequence[str] | None = None,
                     name: str = "transition") -> np.ndarray:
    """T as float64 (K, K) if it is a valid transition matrix for K = n_classes, else ValueError.

    Valid: shape (K, K); every entry finite and >= 0; every row c has off-diagonal mass
    (sum over j != c of T[c, j] > 0), so a damaged label of class c has somewhere to go.
    The diagonal is ignored and rows need not sum to 1: each row is renormalised over its
    off-diagonal. class_names (K,), optional, are echoed in messages beside the row number:
    "transition row 3 (class 3, Dress) has no off-diagonal mass".
    """
    check_int("n_classes", n_classes, AT_LEAST_TWO)
    matrix = _square_matrix(transition, n_classes=n_classes, name=name, class_names=class_names)
    empty = np.flatnonzero(_off_diagonal(matrix).sum(axis=1) <= 0)
    if len(empty):
        c = int(empty[0])
        raise ValueError(f"{_row_text(c, class_names, name)} has no off-diagonal mass "
                         f"(a damaged label of class {c} would have nowhere to go)")
    return matrix


def confusion_transition(counts: Any, *, n_classes: int) -> np.ndarray:
    """The `confusion` mode's T from confusion counts (K, K) [true, predicted]: float64 (K, K).

    T is the off-diagonal of `counts`; a row with no off-diagonal count (a class the reference
    model never mistook) becomes uniform over the other classes (`random` damage for that class),
    so the mode works from defaults alone. Shape, finiteness and signs are checked as in
    check_transition (the name in messages is "confusion").
    """
    check_int("n_classes", n_classes, AT_LEAST_TWO)
    off = _off_diagonal(_square_matrix(counts, n_classes=n_classes, name="confusion", class_names=None))
    empty = off.sum(axis=1) <= 0
    off[empty] = 1.0
    np.fill_diagonal(off, 0)
    return off


def _transition_for(damage_mode: str, transition: Any, *, n_classes: int) -> np.ndarray | None:
    """The checked T of a transition mode (None for the other modes), else ValueError."""
    if damage_mode not in TRANSITION_MODES:
        if transition is not None:
            raise ValueError(f"damage_mode {damage_mode!r} takes no transition matrix, got one "
                             f"of shape {np.shape(transition)}")
        return None
    if transition is None:
        raise ValueError(f"damage_mode {damage_mode!r} needs a transition matrix (transition=), got None")
    if damage_mode == "confusion":
        return confusion_transition(transition, n_classes=n_classes)
    return check_transition(transition, n_classes=n_classes)


def _damage_transition(labels: np.ndarray, uniforms: np.ndarray, transition: np.ndarray) -> np.ndarray:
    """Class c goes to j with probability T[c, j] / sum_{i != c} T[c, i]: u through row c's CDF.

    The CDF ends at exactly 1.0 and u < 1, so u always lands in an interval of positive
    width: never the diagonal, never a zero entry. Each row is first divided by its largest
    entry, so that its sum stays finite for any finite entries (two of 1.5e308 overflow)."""
    off = _off_diagonal(transition)
    cdf = np.cumsum(off / off.max(axis=1, keepdims=True), axis=1)
    cdf /= cdf[:, -1:]
    out = np.empty_like(labels)
    for c in np.unique(labels):
        rows = labels == c
        out[rows] = np.searchsorted(cdf[c], uniforms[rows], side="right")
    return out


def damage_labels(labels: np.ndarray, *, n_classes: int, damage_frac: float, damage_mode: str, seed: int,
                  index: np.ndarray | None = None, n_total: int | None = None,
                  transition: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Damage exactly round(damage_frac * n_c) labels of every class c, stratified.

    labels: int (n,) in [0, n_classes); never modified (a copy is returned).
    n_classes: K >= 2, the dataset's class count.
    damage_frac in [0, 1]; damage_mode in ALL_DAMAGE_MODES; `none` requires damage_frac 0.
    index: int (n,), each label's position in the full training set (default arange(n)),
        so that priorities and offsets belong to training samples, not to subset slots.
    n_total: size of the full set the draws are made over (default max(index) + 1, at
        least n); pass the full training-set size so draws do not depend on the subset.
    transition: (K, K) numbers, required by the TRANSITION_MODES and refused by the others:
        for `matrix` a transition matrix (check_transition), for `confusion` confusion
        counts (confusion_transition). Checked even when damage_frac is 0.
    Returns (new_labels int64 (n,), damaged bool (n,)).
    """
    check_fractions(sample_frac=1.0, damage_frac=damage_frac, damage_mode=damage_mode)
    check_int("n_classes", n_classes, AT_LEAST_TWO)
    matrix = _transition_for(damage_mode, transition, n_classes=n_classes)
    labels = np.asarray(labels)
    index = np.arange(len(labels)) if index is None else np.asarray(index)
    n_total = n_total or max(len(labels), int(index.max(initial=-1)) + 1)
    new_labels = labels.astype(np.int64, copy=True)
    damaged = np.zeros(len(labels), dtype=bool)
    damage_fn = DAMAGE_MODES.get(damage_mode)
    if (damage_fn is None and matrix is None) or damage_frac == 0:
        return new_labels, damaged
    priority, offsets = _per_sample_draws(n_total, seed=seed, n_classes=n_classes)
    for c in range(n_classes):
        members = np.flatnonzero(labels == c)
        k = int(np.round(damage_frac * len(members)))
        # Highest priority first: a larger d takes the same samples plus more (nested).
        chosen = members[np.argsort(priority[index[members]], kind="stable")[:k]]
        damaged[chosen] = True
    if matrix is not None:
        uniforms = _destination_draws(n_total, seed=seed)
        new_labels[damaged] = _damage_transition(new_labels[damaged], uniforms[index[damaged]], matrix)
    elif damage_fn is not None:
        new_labels[damaged] = damage_fn(new_labels[damaged], offsets[index[damaged]], n_classes)
    return new_labels, damaged


def make_training_set(y_train: np.ndarray, *, n_classes: int, sample_frac: float, damage_frac: float,
                      damage_mode: str, seed: int, transition: Any = None) -> TrainingSet:
    """Subset then damage: the whole of one trial's label handling.

    y_train: int (N,) labels of the full training set (read-only is fine; it is not written).
    n_classes: the dataset's class count K.
    transition: (K, K), for the TRANSITION_MODES only (see damage_labels).
    """
    check_fractions(sample_frac=sample_frac, damage_frac=damage_frac, damage_mode=damage_mode)
    idx = subset_indices(len(y_train), sample_frac=sample_frac, seed=seed)
    labels, damaged = damage_labels(y_train[idx], n_classes=n_classes, damage_frac=damage_frac,
                                    damage_mode=damage_mode,
                                    seed=seed, index=idx, n_total=len(y_train), transition=transition)
    return TrainingSet(indices=idx, labels=labels, damaged=damaged)


@dataclass(frozen=True)
class RealizedNoise:
    """The noise one trial's training set really carries.

    counts: int64 (K, K); counts[t, g] is the number of samples of true class t given label g
        (the realized T, as counts: the diagonal holds the undamaged samples).
    """

    counts: np.ndarray

    @property
    def rate(self) -> np.ndarray:
        """float64 (K,): per true class, the fraction whose given label differs; NaN if absent."""
        totals = self.counts.sum(axis=1)
        wrong = totals - np.diag(self.counts)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(totals > 0, wrong / np.maximum(totals, 1), np.nan)

    @property
    def overall(self) -> float:
        """The fraction of all labels that differ from the true ones (NaN for no labels)."""
        total = int(self.counts.sum())
        return float((total - np.trace(self.counts)) / total) if total else float("nan")

    def to_record(self) -> dict[str, Any]:
        """Plain lists for a trial's results: noise_rate, noise_rate_per_class (K,), realized_transition (K, K)."""
        return {"noise_rate": self.overall, "noise_rate_per_class": [float(r) for r in self.rate],
                "realized_transition": self.counts.astype(int).tolist()}


def realized_noise(clean: np.ndarray, given: np.ndarray, *, n_classes: int) -> RealizedNoise:
    """Count (true, given) pairs: clean, given int (n,) in [0, n_classes), the same samples."""
    check_int("n_classes", n_classes, AT_LEAST_TWO)
    clean, given = np.asarray(clean, dtype=np.int64), np.asarray(given, dtype=np.int64)
    if clean.shape != given.shape:
        raise ValueError(f"clean and given labels must have the same shape, got {clean.shape} and {given.shape}")
    for name, arr in (("clean", clean), ("given", given)):
        if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
            raise ValueError(f"{name} labels must be in [0, {n_classes}), got values in "
                             f"[{arr.min()}, {arr.max()}]")
    flat = np.bincount(clean * n_classes + given, minlength=n_classes * n_classes)
    return RealizedNoise(counts=flat.reshape(n_classes, n_classes).astype(np.int64))


@dataclass(frozen=True)
class ReferenceConfusion:
    """The `confusion` mode's source: a cheap model's out-of-fold confusion on clean labels.

    counts: int64 (K, K); counts[t, p] = reference samples of true class t predicted p.
    model, n_samples, folds, seed: how it was made (see confusion_matrix_of).
    """

    counts: np.ndarray
    model: str
    n_samples: int
    folds: int
    seed: int

    @property
    def accuracy(self) -> float:
        """The reference model's out-of-fold accuracy on its clean samples."""
        return float(np.trace(self.counts) / self.counts.sum())

    @property
    def transition(self) -> np.ndarray:
        """float64 (K, K): the T the `confusion` mode draws from (confusion_transition)."""
        return confusion_transition(self.counts, n_classes=len(self.counts))

    def to_record(self) -> dict[str, Any]:
        """Plain values, for the experiment directory: counts (K, K) and how they were made."""
        return {"counts": self.counts.astype(int).tolist(), "model": self.model, "n_samples": self.n_samples,
                "folds": self.folds, "seed": self.seed, "accuracy": self.accuracy}


def confusion_matrix_of(x_train: np.ndarray, y_train: np.ndarray, *, n_classes: int, model: str = "rf",
                        n_samples: int = 5000, folds: int = 5, seed: int = 0, n_jobs: int = 1
                        ) -> ReferenceConfusion:
    """Confusion counts of a cheap reference model on clean labels, for `confusion` damage.

    x_train: (N, ...) inputs (uint8 pixels: scaled by 1/255), y_train: int (N,) clean labels
    in [0, K). The reference samples are the first n_samples (2..N, default 5000) of a
    seeded permutation; every one is predicted out of fold (folds-fold stratified CV, default
    5) by `model` (datavsmath.trainables.repair.REPAIR_MODELS, default rf), so counts sum to n_samples.
    Deterministic given seed; n_jobs threads. Computed once per sweep by the driver.
    """
    from datavsmath.trainables.repair import out_of_fold_proba  # sklearn: imported only when a sweep asks

    n = check_int("n_samples", n_samples, Interval(2, len(y_train)))
    rows = np.random.default_rng([seed, _STREAM_REFERENCE]).permutation(len(y_train))[:n]
    clean = np.asarray(y_train)[rows]
    proba = out_of_fold_proba(np.asarray(x_train)[rows], clean, n_classes=n_classes, model=model, folds=folds,
                              seed=seed, n_jobs=n_jobs)
    counts = realized_noise(clean, proba.argmax(axis=1), n_classes=n_classes).counts
    return ReferenceConfusion(counts=counts, model=model, n_samples=n, folds=folds, seed=seed)

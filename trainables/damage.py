"""Seeded sampling and label damage: pure numpy, deterministic, no ray.

Every draw comes from `np.random.default_rng` seeded by the trial's `seed`, with one
independent stream per purpose so that changing one axis never shifts another's draws:

- the subset is the first floor(f * n) indices of a seeded permutation, so subsets are
  nested in `sample_frac` (common random numbers along the size axis);
- the damaged labels are, per class, the round(d * n_c) members with the highest seeded
  priority, so damaged sets are nested in `damage_frac`;
- `random` damage adds a per-sample offset in 1..K-1 fixed by the seed, so a label never
  maps to itself and a sample keeps its wrong label as d grows.

K is the dataset's class count, passed in by the caller (the dataset owns it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from trainables.checks import UNIT, UNIT_OPEN_LEFT, Interval, check_choice, check_int, check_number

AT_LEAST_TWO = Interval(2, None, closed="left")  # a class count
# Stream ids: rng = default_rng([seed, STREAM]); never reuse one for another purpose.
_STREAM_SUBSET, _STREAM_PRIORITY, _STREAM_OFFSET = 0, 1, 2

DamageFn = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


def _damage_random(labels: np.ndarray, offsets: np.ndarray, n_classes: int) -> np.ndarray:
    """label + U{1..K-1} mod K, the offset fixed per sample by the seed."""
    return (labels + offsets) % n_classes


def _damage_constant(labels: np.ndarray, offsets: np.ndarray, n_classes: int) -> np.ndarray:
    """label + 1 mod K: "0 becomes 1, always"."""
    return (labels + 1) % n_classes


# A new damage mode is one function (labels, offsets, n_classes) -> labels, registered here.
DAMAGE_MODES: dict[str, DamageFn | None] = {
    "none": None,
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


def check_damage_mode(damage_mode: str, *, damage_frac: float) -> str:
    """`damage_mode` if it is a registered mode and fits `damage_frac`, else ValueError."""
    check_choice("damage_mode", damage_mode, DAMAGE_MODES)
    if damage_mode == "none" and damage_frac > 0:
        raise ValueError(f"damage_mode 'none' needs damage_frac 0, got damage_frac {damage_frac:g}")
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
    check_fractions(sample_frac=sample_frac, damage_frac=0.0, damage_mode="none")
    n = subset_size(n_total, sample_frac=sample_frac)
    perm = np.random.default_rng([seed, _STREAM_SUBSET]).permutation(n_total)
    return perm[:n].astype(np.int64)


def _per_sample_draws(n_total: int, *, seed: int, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(priority, offset in 1..K-1) for every position of the full set: fixed by seed alone."""
    priority = np.random.default_rng([seed, _STREAM_PRIORITY]).permutation(n_total)
    offsets = np.random.default_rng([seed, _STREAM_OFFSET]).integers(1, n_classes, size=n_total)
    return priority, offsets


def damage_labels(labels: np.ndarray, *, n_classes: int, damage_frac: float, damage_mode: str, seed: int,
                  index: np.ndarray | None = None, n_total: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Damage exactly round(damage_frac * n_c) labels of every class c, stratified.

    labels: int (n,) in [0, n_classes); never modified (a copy is returned).
    n_classes: K >= 2, the dataset's class count.
    damage_frac in [0, 1]; damage_mode in DAMAGE_MODES; `none` requires damage_frac 0.
    index: int (n,), each label's position in the full training set (default arange(n)),
        so that priorities and offsets belong to training samples, not to subset slots.
    n_total: size of the full set the draws are made over (default max(index) + 1, at
        least n); pass the full training-set size so draws do not depend on the subset.
    Returns (new_labels int64 (n,), damaged bool (n,)).
    """
    check_fractions(sample_frac=1.0, damage_frac=damage_frac, damage_mode=damage_mode)
    check_int("n_classes", n_classes, AT_LEAST_TWO)
    labels = np.asarray(labels)
    index = np.arange(len(labels)) if index is None else np.asarray(index)
    n_total = n_total or max(len(labels), int(index.max(initial=-1)) + 1)
    new_labels = labels.astype(np.int64, copy=True)
    damaged = np.zeros(len(labels), dtype=bool)
    damage_fn = DAMAGE_MODES[damage_mode]
    if damage_fn is None or damage_frac == 0:
        return new_labels, damaged
    priority, offsets = _per_sample_draws(n_total, seed=seed, n_classes=n_classes)
    for c in range(n_classes):
        members = np.flatnonzero(labels == c)
        k = int(np.round(damage_frac * len(members)))
        # Highest priority first: a larger d takes the same samples plus more (nested).
        chosen = members[np.argsort(priority[index[members]], kind="stable")[:k]]
        damaged[chosen] = True
    new_labels[damaged] = damage_fn(new_labels[damaged], offsets[index[damaged]], n_classes)
    return new_labels, damaged


def make_training_set(y_train: np.ndarray, *, n_classes: int, sample_frac: float, damage_frac: float,
                      damage_mode: str, seed: int) -> TrainingSet:
    """Subset then damage: the whole of one trial's label handling.

    y_train: int (N,) labels of the full training set (read-only is fine; it is not written).
    n_classes: the dataset's class count K.
    """
    check_fractions(sample_frac=sample_frac, damage_frac=damage_frac, damage_mode=damage_mode)
    idx = subset_indices(len(y_train), sample_frac=sample_frac, seed=seed)
    labels, damaged = damage_labels(y_train[idx], n_classes=n_classes, damage_frac=damage_frac,
                                    damage_mode=damage_mode,
                                    seed=seed, index=idx, n_total=len(y_train))
    return TrainingSet(indices=idx, labels=labels, damaged=damaged)

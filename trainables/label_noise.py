"""The damage process as a noise model: its transition matrix, repeated labels drawn from it,
damaged test labels, and accuracies corrected to what a clean test set would show.

A damage mode of datavsmath.trainables.damage at quality q (= 1 - damage_frac) keeps a label
with probability q and otherwise sends class c to class j with the mode's own weights:

    P(given j | true c) = q [j = c] + (1 - q) W[c, j],  W's rows summing to 1 off the diagonal.

`mode_transition` builds this K x K matrix from the damage functions themselves (`random`:
W uniform over the other K - 1 classes; `constant`: W[c, c + 1 mod K] = 1), or from the
transition mode's matrix. Because damage.damage_labels damages exactly round(d * n_c) labels
of each class, a damaged set carries this matrix class by class (up to rounding).

Corrected accuracy: a test set whose labels went through T gives the confusion counts
C_obs[g, p] = sum_c T[c, g] C[c, p] (rows the given label, columns the prediction), so the
clean test set's counts are C = (T^T)^-1 C_obs and its accuracy trace(C) / n. For `random`
damage this is the closed form measured = q a + (1 - q)(1 - a) / (K - 1) solved for a.
T is singular where the given label says nothing of the true one (`random` at q = 1/K,
`constant` at q = 1/2 with K even): a ValueError says so.

Repeated labels (`repeated_labels`): item i's k labels are its given label and k - 1 more,
each an independent damage of its clean label by the same mode and damage_frac, drawn from
seeds derived from the trial's (`derived_seed`), so one trial's draws never shift another's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from datavsmath.trainables.checks import AT_LEAST_ONE, UNIT, check_int, check_number
from datavsmath.trainables.damage import (
    AT_LEAST_TWO,
    DAMAGE_MODES,
    NO_DAMAGE,
    TRANSITION_MODES,
    check_damage_mode,
    check_transition,
    confusion_transition,
    damage_labels,
)

# Purposes of the seeds derived from a trial's seed (never reuse one for another purpose).
_PURPOSE_TEST, _PURPOSE_VOTE = 1, 2
# A transition matrix whose determinant is below this is treated as singular.
_SINGULAR = 1e-9


def derived_seed(seed: int, *parts: int) -> int:
    """A 32-bit seed for one purpose of a trial's `seed` (numpy's SeedSequence of [seed, *parts])."""
    return int(np.random.SeedSequence([int(seed), *map(int, parts)]).generate_state(1)[0])


def _weights(damage_mode: str, *, n_classes: int, transition: Any) -> np.ndarray:
    """W (K, K): where a damaged label of each class goes, rows summing to 1, diagonal 0."""
    if damage_mode in TRANSITION_MODES:
        if transition is None:
            raise ValueError(f"damage_mode {damage_mode!r} needs its transition matrix (transition=), got None")
        matrix = (confusion_transition(transition, n_classes=n_classes) if damage_mode == "confusion"
                  else check_transition(transition, n_classes=n_classes))
    else:
        damage_fn = DAMAGE_MODES[damage_mode]
        matrix = np.zeros((n_classes, n_classes))
        if damage_fn is not None:  # every offset 1..K-1 of the mode's per-sample draw, equally likely
            for offset in range(1, n_classes):
                labels = np.arange(n_classes)
                matrix[labels, damage_fn(labels, np.full(n_classes, offset), n_classes)] += 1
    np.fill_diagonal(matrix, 0)
    sums = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, sums, out=np.zeros_like(matrix), where=sums > 0)


def mode_transition(damage_mode: str, *, quality: float, n_classes: int, transition: Any = None) -> np.ndarray:
    """T (K, K), T[c, j] = P(given label j | true class c) for `damage_mode` at `quality`.

    damage_mode: one of damage.ALL_DAMAGE_MODES (`none`: the identity, quality 1 only);
    quality in [0, 1]; transition: the (K, K) matrix a transition mode needs (as for
    damage.damage_labels). Rows sum to 1.
    """
    quality = check_number("quality", quality, UNIT)
    check_int("n_classes", n_classes, AT_LEAST_TWO)
    check_damage_mode(damage_mode, damage_frac=1.0 - quality if damage_mode != NO_DAMAGE else 0.0)
    if damage_mode == NO_DAMAGE and quality < 1:
        raise ValueError(f"damage_mode {NO_DAMAGE!r} needs quality 1, got quality {quality:g}")
    weights = _weights(damage_mode, n_classes=n_classes, transition=transition)
    return quality * np.eye(n_classes) + (1 - quality) * weights


def corrected_confusion(counts: Any, transition: np.ndarray) -> np.ndarray:
    """The clean test set's expected confusion counts (K, K) [true, predicted] from counts
    [given, predicted] measured on labels that went through `transition` (K, K): (T^T)^-1 C_obs."""
    observed = np.asarray(counts, dtype=np.float64)
    matrix = np.asarray(transition, dtype=np.float64)
    if observed.ndim != 2 or observed.shape[0] != observed.shape[1] or observed.shape != matrix.shape:
        raise ValueError(f"counts must be a K x K matrix matching the transition's shape {matrix.shape}, "
                         f"got shape {observed.shape}")
    if abs(np.linalg.det(matrix)) < _SINGULAR:
        raise ValueError("the transition matrix is singular at this quality: a given label says nothing of the "
                         "true one, so no clean accuracy can be recovered")
    return np.linalg.solve(matrix.T, observed)


def corrected_accuracy(counts: Any, *, quality: float, damage_mode: str, transition: Any = None) -> float:
    """The accuracy a clean test set would show, from the confusion counts (K, K) [given,
    predicted] on test labels of `quality` damaged by `damage_mode` (module docstring),
    clipped to [0, 1]."""
    observed = np.asarray(counts, dtype=np.float64)
    matrix = mode_transition(damage_mode, quality=quality, n_classes=len(observed), transition=transition)
    clean = corrected_confusion(observed, matrix)
    return float(np.clip(np.trace(clean) / observed.sum(), 0.0, 1.0))


def damaged_test_labels(y_test: np.ndarray, *, n_classes: int, damage_frac: float, damage_mode: str, seed: int,
                        transition: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """The test labels damaged as a trial's training labels are (same mode and damage_frac,
    stratified per class), from a seed of their own: (labels int64 (n,), damaged bool (n,))."""
    return damage_labels(np.asarray(y_test), n_classes=n_classes, damage_frac=damage_frac, damage_mode=damage_mode,
                         seed=derived_seed(seed, _PURPOSE_TEST), transition=transition)


def repeated_labels(clean: np.ndarray, given: np.ndarray, *, k: int, n_classes: int, damage_frac: float,
                    damage_mode: str, seed: int, index: np.ndarray | None = None, n_total: int | None = None,
                    transition: Any = None) -> np.ndarray:
    """k labels per item, int64 (n, k): column 0 the `given` (damaged) labels, columns 1..k-1
    independent damages of the `clean` labels by the same process (damage.damage_labels with
    a derived seed each; index and n_total as there, so an item keeps its draws across sizes)."""
    k = check_int("k", k, AT_LEAST_ONE)
    clean, given = np.asarray(clean, dtype=np.int64), np.asarray(given, dtype=np.int64)
    if clean.shape != given.shape:
        raise ValueError(f"clean and given labels must have the same shape, got {clean.shape} and {given.shape}")
    columns = [given]
    for j in range(1, k):
        labels, _ = damage_labels(clean, n_classes=n_classes, damage_frac=damage_frac, damage_mode=damage_mode,
                                  seed=derived_seed(seed, _PURPOSE_VOTE, j), index=index, n_total=n_total,
                                  transition=transition)
        columns.append(labels)
    return np.stack(columns, axis=1)

"""Two ways of buying better labels, as the repair axis's `audit` and `vote`
(datavsmath.trainables.repair owns the names):

- a ranked audit: the labels a model doubts most are checked first, and each one checked is
  set to its true label, up to a budget of `audit_frac` of the training labels. The doubt
  is cleanlab's label quality score (`rank.get_label_quality_scores`, self-confidence: the
  out-of-fold probability of the given label), lowest first, ties in index order.
- repeated labels: each item has k labels (datavsmath.trainables.label_noise.repeated_labels)
  and takes their majority, ties broken at random (seeded), as Sheng, Provost & Ipeirotis
  (KDD 2008) do. `vote_accuracy` is the exact probability that the vote is right when each
  label is independently right with probability q and a wrong one goes to the other classes
  as the damage mode sends it.

The limits (AUDIT_FRACS, VOTE_KS) and defaults are declared here and checked by the spec.
"""

from __future__ import annotations

import math

import numpy as np

from datavsmath.trainables.checks import UNIT, UNIT_OPEN_LEFT, Interval, check_int, check_number

AUDIT_FRACS = UNIT_OPEN_LEFT       # audit_frac: the share of the training labels checked, (0, 1]
DEFAULT_AUDIT_FRAC = 0.1
VOTE_KS = Interval(2, 9)           # vote_k: labels per item (k = 3 and 5 in the literature)
DEFAULT_VOTE_K = 3


def audit_order(labels: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Indices of `labels` (n,), the most doubted first: cleanlab's self-confidence score of
    each given label under the out-of-fold probabilities `proba` (n, K), ascending (stable)."""
    from cleanlab.rank import get_label_quality_scores

    scores = get_label_quality_scores(np.asarray(labels, dtype=np.int64), np.asarray(proba, dtype=np.float64),
                                      method="self_confidence")
    return np.argsort(scores, kind="stable")


def ranked_audit(labels: np.ndarray, clean_labels: np.ndarray, proba: np.ndarray, *,
                 audit_frac: float) -> tuple[np.ndarray, np.ndarray]:
    """Audit round(audit_frac * n) labels, most doubted first, and set them to the true ones.

    labels, clean_labels: int (n,), the given and the true labels; proba: (n, K) out-of-fold
    probabilities. Returns (new labels int64 (n,), audited bool (n,))."""
    audit_frac = check_number("audit_frac", audit_frac, AUDIT_FRACS)
    labels, clean = np.asarray(labels, dtype=np.int64), np.asarray(clean_labels, dtype=np.int64)
    if clean.shape != labels.shape:
        raise ValueError(f"clean_labels must have shape {labels.shape}, got {clean.shape}")
    chosen = audit_order(labels, proba)[: int(round(audit_frac * len(labels)))]
    audited = np.zeros(len(labels), dtype=bool)
    audited[chosen] = True
    new_labels = labels.copy()
    new_labels[audited] = clean[audited]
    return new_labels, audited


def majority_vote(votes: np.ndarray, *, n_classes: int, seed: int) -> np.ndarray:
    """Each row's most frequent label, int64 (n,): votes int (n, k) in [0, K); a tie goes to
    one of the tied labels at random (seeded)."""
    votes = np.asarray(votes, dtype=np.int64)
    if votes.ndim != 2 or votes.shape[1] < 1:
        raise ValueError(f"votes must be an (n, k) array of labels with k >= 1, got shape {votes.shape}")
    if votes.size and (votes.min() < 0 or votes.max() >= n_classes):
        raise ValueError(f"votes must be in [0, {n_classes}), got values in [{votes.min()}, {votes.max()}]")
    counts = np.zeros((len(votes), n_classes))
    np.add.at(counts, (np.repeat(np.arange(len(votes)), votes.shape[1]), votes.ravel()), 1)
    # A uniform in [0, 1) breaks ties among the most frequent labels, never beats a larger count.
    jitter = np.random.default_rng(seed).random(counts.shape)
    return np.argmax(counts + jitter, axis=1).astype(np.int64)


def vote_accuracy(quality: float, *, k: int, n_classes: int, spread: bool = True) -> float:
    """P(the majority of k labels is the true one), ties at random, each label right with
    probability `quality`; a wrong label goes to one of the K - 1 other classes uniformly
    (`spread`, random damage) or always to the same one (spread False, constant damage)."""
    q = check_number("quality", quality, UNIT)
    k = check_int("k", k, Interval(1, 12))
    wrong_classes = n_classes - 1 if spread else 1
    total = 0.0
    for right in range(k + 1):
        p_right = math.comb(k, right) * q ** right * (1 - q) ** (k - right)
        if p_right:
            total += p_right * _win_share(right, k - right, wrong_classes)
    return total


def _compositions(total: int, parts: int):
    """Every tuple of `parts` counts >= 0 summing to `total`."""
    if parts == 1:
        yield (total,)
        return
    for first in range(total + 1):
        for rest in _compositions(total - first, parts - 1):
            yield (first, *rest)


def _win_share(right: int, wrong: int, wrong_classes: int) -> float:
    """E[share of the win of the true class] when `wrong` labels fall uniformly on
    `wrong_classes` classes and `right` on the true one (ties shared equally): a sum over
    the multinomial counts of the wrong labels."""
    if wrong == 0:
        return 1.0 if right else 0.0
    share = 0.0
    for counts in _compositions(wrong, wrong_classes):
        top = max(counts)
        if right >= top:
            ways = math.factorial(wrong) / math.prod(math.factorial(c) for c in counts)
            share += ways / (1 + counts.count(top) if right == top else 1)
    return share / wrong_classes ** wrong

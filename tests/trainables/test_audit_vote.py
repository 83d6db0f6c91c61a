"""The ranked audit and repeated labels (repair `audit` and `vote`) on real data: scikit-learn's
handwritten digits (1797 images, 10 classes) damaged by the sweep's own damage code, and the
Fashion-MNIST training labels (60,000) for the vote's noise, where the sampling noise is small."""

from __future__ import annotations

import numpy as np
import pytest

from datavsmath.trainables.audit_vote import majority_vote, vote_accuracy
from datavsmath.trainables.damage import damage_labels
from datavsmath.trainables.label_noise import repeated_labels
from datavsmath.trainables.repair import REPAIRS, repair_labels
from tests.trainables.conftest import DIGITS_CLASSES, DIGITS_DAMAGE_FRAC

K, DAMAGE_FRAC = DIGITS_CLASSES, DIGITS_DAMAGE_FRAC  # the damaged_digits fixture's


@pytest.fixture(scope="module")
def audited(damaged_digits):
    """The ranked audit of the damaged digits at a budget of the damage's own size (one CV, ~2 s)."""
    x, y, labels, damaged = damaged_digits
    return repair_labels(x, labels, repair="audit", n_classes=K, seed=0, damaged=damaged, clean_labels=y,
                         audit_frac=DAMAGE_FRAC, n_jobs=2)


def test_the_ranked_audit_checks_mostly_wrong_labels(damaged_digits, audited):
    """A random audit of 20 % finds 20 % of the wrong labels; the ranked one finds most of them
    (measured: 0.93 of the audited labels were wrong). Every audited label ends right."""
    x, y, labels, damaged = damaged_digits
    assert audited.n_audited == round(DAMAGE_FRAC * len(y))
    assert audited.precision > 0.8 and audited.recall > 0.8
    assert (audited.labels[audited.flagged] == y[audited.flagged]).all()
    assert audited.n_wrong == int((audited.labels != y).sum()) < 0.2 * damaged.sum()
    assert audited.stats()["n_audited"] == audited.n_audited and audited.stats()["audit_frac"] == DAMAGE_FRAC


@pytest.mark.parametrize("repair", [r for r in REPAIRS if r != "audit"])
def test_only_the_audit_records_an_audit(damaged_digits, repair):
    """Other repairs audit nothing; n_wrong counts the wrong labels each keeps."""
    x, y, labels, damaged = damaged_digits
    votes = repeated_labels(y, labels, k=3, n_classes=K, damage_frac=DAMAGE_FRAC, damage_mode="constant", seed=0)
    fixed = repair_labels(x[:400], labels[:400], repair=repair, n_classes=K, seed=0, clean_labels=y[:400],
                          votes=votes[:400], n_jobs=2)
    assert fixed.n_audited == 0 and np.isnan(fixed.audit_frac)
    assert fixed.n_wrong == int((fixed.kept_labels != y[:400][fixed.keep]).sum())
    assert fixed.n_bought == (800 if repair == "vote" else 0)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"repair": "audit"}, r"repair 'audit' needs the true labels"),
    ({"repair": "audit", "clean_labels": "y", "audit_frac": 1.3}, r"audit_frac must be in \(0, 1\], got 1.3"),
    ({"repair": "vote"}, r"repair 'vote' needs each item's k labels"),
    ({"repair": "vote", "votes": np.zeros((5, 3))}, r"votes must have shape \(1797, k\)"),
])
def test_audit_and_vote_refuse_what_they_cannot_do(damaged_digits, kwargs, match):
    x, y, labels, _ = damaged_digits
    kwargs = {**kwargs, **({"clean_labels": y} if kwargs.get("clean_labels") == "y" else {})}
    with pytest.raises(ValueError, match=match):
        repair_labels(x, labels, n_classes=K, seed=0, **kwargs)


@pytest.mark.parametrize("damage_mode", ["random", "constant"])
@pytest.mark.parametrize("k", [3, 5])
def test_the_vote_of_repeated_labels_has_the_exact_majority_noise(fashion, damage_mode, k):
    """k labels per item from the damage process at 17.6 % noise (CIFAR-10N's third annotator):
    the majority's noise on 60,000 labels is the exact majority-vote probability's, within
    4 binomial standard deviations (about 0.005)."""
    clean = np.asarray(fashion.y_train)
    given, _ = damage_labels(clean, n_classes=K, damage_frac=0.176, damage_mode=damage_mode, seed=3)
    votes = repeated_labels(clean, given, k=k, n_classes=K, damage_frac=0.176, damage_mode=damage_mode, seed=3)
    assert (votes[:, 0] == given).all()
    wrong = votes != clean[:, None]
    assert np.allclose(wrong.mean(axis=0), 0.176, atol=1e-3)  # each annotator: the stated damage
    assert abs(np.mean(wrong[:, 0] & wrong[:, 1]) - 0.176 ** 2) < 0.005  # independent annotators
    noise = float(np.mean(majority_vote(votes, n_classes=K, seed=0) != clean))
    exact = 1 - vote_accuracy(1 - 0.176, k=k, n_classes=K, spread=damage_mode == "random")
    assert abs(noise - exact) < 4 * np.sqrt(exact * (1 - exact) / len(clean))


def test_majority_vote_breaks_ties_at_random_and_keeps_majorities():
    votes = np.array([[0, 1]] * 2000 + [[2, 2, ]] * 10)
    chosen = majority_vote(votes, n_classes=3, seed=0)
    assert set(chosen[:2000]) == {0, 1} and abs(np.mean(chosen[:2000] == 0) - 0.5) < 0.05
    assert (chosen[2000:] == 2).all()
    with pytest.raises(ValueError, match=r"votes must be in \[0, 3\), got values in \[0, 5\]"):
        majority_vote(np.array([[0, 5]]), n_classes=3, seed=0)


@pytest.mark.parametrize(("quality", "k", "n_classes", "spread", "expected"), [
    (0.8, 1, 10, True, 0.8),
    (0.8, 3, 2, True, 0.8 ** 3 + 3 * 0.8 ** 2 * 0.2),                       # binary: the plain majority
    (0.824, 3, 10, True, 0.824 ** 3 + 3 * 0.824 ** 2 * 0.176 + 0.824 * 0.176 ** 2 * 8 / 9),  # 3-way ties: 1/3
    (0.824, 3, 10, False, 0.824 ** 3 + 3 * 0.824 ** 2 * 0.176),             # constant: the wrong ones agree
    (0.5, 2, 2, True, 0.5),
])
def test_vote_accuracy_matches_closed_forms(quality, k, n_classes, spread, expected):
    assert vote_accuracy(quality, k=k, n_classes=n_classes, spread=spread) == pytest.approx(expected)

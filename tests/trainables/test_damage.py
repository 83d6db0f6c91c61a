"""Sampling and label damage: exact counts, nesting, determinism, the label maps."""

from __future__ import annotations

import numpy as np
import pytest

from datavsmath.trainables.damage import DAMAGE_MODES, DAMAGED_MODES, damage_labels, make_training_set, subset_indices


def _training_set(fashion, **kwargs):
    """make_training_set on the real training labels, with the dataset's class count."""
    return make_training_set(fashion.y_train, n_classes=fashion.n_classes, **kwargs)


def _damage(fashion, **kwargs):
    """damage_labels on the real training labels, with the dataset's class count."""
    return damage_labels(fashion.y_train, n_classes=fashion.n_classes, **kwargs)


@pytest.mark.parametrize("damage_mode", DAMAGED_MODES)
@pytest.mark.parametrize("damage_frac", [0.0, 0.01, 0.1, 0.33, 0.5, 0.99, 1.0])
def test_exact_per_class_counts(fashion, damage_mode, damage_frac):
    ts = _training_set(fashion, sample_frac=0.07, damage_frac=damage_frac,
                           damage_mode=damage_mode, seed=3)
    original = fashion.y_train[ts.indices]
    for c in range(fashion.n_classes):
        members = original == c
        assert ts.damaged[members].sum() == np.round(damage_frac * members.sum())
    # damaged exactly where the label changed
    np.testing.assert_array_equal(ts.damaged, ts.labels != original)


@pytest.mark.parametrize("sample_frac,expected", [(0.01, 600), (0.29, 17400), (0.07, 4200), (1.0, 60000)])
def test_subset_size_is_floor(sample_frac, expected):
    assert len(subset_indices(60000, sample_frac=sample_frac, seed=0)) == expected


def test_subsets_nested_in_sample_frac():
    fracs = [0.01, 0.02, 0.05, 0.1, 0.5, 0.91, 1.0]
    subsets = [set(subset_indices(60000, sample_frac=f, seed=7)) for f in fracs]
    for small, large in zip(subsets, subsets[1:]):
        assert small < large
    assert subsets[-1] == set(range(60000))


@pytest.mark.parametrize("damage_mode", DAMAGED_MODES)
def test_damage_nested_in_damage_frac(fashion, damage_mode):
    previous = None
    for d in [0.0, 0.05, 0.1, 0.2, 0.5, 0.9, 0.99]:
        ts = _training_set(fashion, sample_frac=0.2, damage_frac=d,
                               damage_mode=damage_mode, seed=1)
        damaged = set(ts.indices[ts.damaged])
        if previous is not None:
            assert previous <= damaged
        previous = damaged


def test_random_wrong_label_is_fixed_per_sample_across_damage_frac(fashion):
    low = _training_set(fashion, sample_frac=0.1, damage_frac=0.1, damage_mode="random", seed=2)
    high = _training_set(fashion, sample_frac=0.1, damage_frac=0.6, damage_mode="random", seed=2)
    np.testing.assert_array_equal(low.indices, high.indices)
    np.testing.assert_array_equal(high.labels[low.damaged], low.labels[low.damaged])


@pytest.mark.parametrize("damage_mode", DAMAGED_MODES)
def test_same_seed_same_draws_other_seed_other_draws(fashion, damage_mode):
    kwargs = dict(sample_frac=0.05, damage_frac=0.3, damage_mode=damage_mode)
    a = _training_set(fashion, seed=11, **kwargs)
    b = _training_set(fashion, seed=11, **kwargs)
    c = _training_set(fashion, seed=12, **kwargs)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.indices, c.indices)
    assert set(a.indices[a.damaged]) != set(c.indices[c.damaged])


def test_random_never_maps_a_label_to_itself_and_uses_all_others(fashion):
    labels, damaged = _damage(fashion, damage_frac=1.0, damage_mode="random", seed=0)
    assert damaged.all()
    assert not np.any(labels == fashion.y_train)
    for c in range(fashion.n_classes):
        received = set(np.unique(labels[fashion.y_train == c]))
        assert received == set(range(fashion.n_classes)) - {c}


def test_constant_maps_c_to_c_plus_one(fashion):
    labels, damaged = _damage(fashion, damage_frac=1.0, damage_mode="constant", seed=0)
    np.testing.assert_array_equal(labels, (fashion.y_train + 1) % fashion.n_classes)


def test_none_leaves_labels_alone(fashion):
    ts = _training_set(fashion, sample_frac=0.1, damage_frac=0.0, damage_mode="none", seed=0)
    np.testing.assert_array_equal(ts.labels, fashion.y_train[ts.indices])
    assert ts.n_damaged == 0


def test_shared_arrays_are_not_modified(fashion):
    y = fashion.y_train.copy()
    y.setflags(write=False)  # as the object store hands it to a trial
    before = y.copy()
    for mode in DAMAGED_MODES:
        make_training_set(y, n_classes=10, sample_frac=1.0, damage_frac=0.5, damage_mode=mode, seed=0)
    np.testing.assert_array_equal(y, before)


def test_registry_holds_the_modes():
    assert set(DAMAGE_MODES) == {"none", "random", "constant"}
    assert DAMAGED_MODES == ("random", "constant")


@pytest.mark.parametrize("kwargs,match", [
    (dict(sample_frac=0.0, damage_frac=0.0, damage_mode="none"), r"sample_frac must be in \(0, 1\], got 0$"),
    (dict(sample_frac=1.2, damage_frac=0.0, damage_mode="none"), r"sample_frac must be in \(0, 1\], got 1.2"),
    (dict(sample_frac=0.5, damage_frac=1.3, damage_mode="random"), r"damage_frac must be in \[0, 1\], got 1.3"),
    (dict(sample_frac=0.5, damage_frac=-0.1, damage_mode="random"), r"damage_frac must be in \[0, 1\], got -0.1"),
    (dict(sample_frac=0.5, damage_frac=0.1, damage_mode="evil"), r"damage_mode must be one of .*got 'evil'"),
    (dict(sample_frac=0.5, damage_frac=0.1, damage_mode="none"), r"damage_mode 'none' needs damage_frac 0"),
    (dict(sample_frac=0.5, damage_frac=0.1, damage_mode="random", n_classes=1), r"n_classes must be in \[2, inf\), got 1"),
])
def test_bad_arguments_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_training_set(np.zeros(100, dtype=np.int64), seed=0, **{"n_classes": 10, **kwargs})

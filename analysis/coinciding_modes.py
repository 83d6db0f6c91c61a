"""Damage modes that coincide: with K = 2 classes, random, constant, confusion and matrix damage
all flip a damaged label to the other class, so their trials measure the same thing. The report
shows such modes once, under the first one swept, and says so."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from datavsmath.analysis.aggregate import SWEPT_DAMAGED_MODES, finished


def coinciding_modes(df: pd.DataFrame, *, n_classes: int) -> dict[str, str]:
    """{duplicate mode: the mode it coincides with} among the damaged modes of finished trials
    (SWEPT_DAMAGED_MODES order; the first is kept); {} when none coincide."""
    done = finished(df)
    present = [m for m in SWEPT_DAMAGED_MODES if m in set(done.loc[done["damage_frac"] > 0, "damage_mode"])]
    if n_classes != 2 or len(present) < 2:
        return {}
    return {mode: present[0] for mode in present[1:]}


def collapse_note(duplicates: dict[str, str], *, n_classes: int) -> str:
    """What the report says about the modes it collapsed."""
    kept = sorted(set(duplicates.values()))
    return (f"With {n_classes} classes, {', '.join([*kept, *duplicates])} damage all flip a damaged label to the "
            f"other class: they are the same damage, so the report shows it once, as {' and '.join(kept)}.")


def reference_caption(record: Mapping[str, Any] | None) -> str:
    """What `confusion` damage rests on: the reference model's out-of-fold accuracy and
    confusions (datavsmath.trainables.damage.ReferenceConfusion.to_record), with a warning when
    it is degenerate: at most one destination per class, so confusion damage is a fixed flip
    (like constant damage) rather than the spread of a model's mistakes. "" without a record."""
    if not record:
        return ""
    counts = np.asarray(record["counts"], dtype=float)
    off = counts - np.diag(np.diag(counts))
    mistakes = int(off.sum())
    destinations = (off > 0).sum(axis=1)
    text = (f"Confusion reference: {record.get('model', '?')} on {int(counts.sum()):,} clean rows "
            f"({record.get('folds', '?')}-fold, out of fold): accuracy {float(record.get('accuracy', np.nan)):.3f}, "
            f"{mistakes:,} confusions.")
    if destinations.max(initial=0) <= 1:
        text += (" Warning: degenerate reference: each class is confused with at most one other class, so "
                 "confusion damage sends a class's damaged labels all to one class, a fixed flip like constant "
                 "damage; a weaker reference model or more rows would spread it.")
    return text

"""Damage modes that coincide: with K = 2 classes, random, constant, confusion and matrix damage
all flip a damaged label to the other class, so their trials measure the same thing. The report
shows such modes once, under the first one swept, and says so."""

from __future__ import annotations

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

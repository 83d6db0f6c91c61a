"""Which cells of a grown spec `--extend` runs, and which it keeps from earlier runs.

Pure data in, pure data out: the CLI reads what already finished in the experiment (through
analysis) and hands it here as `Finished` records; the runner then runs `Extension.new` as
one more Tune experiment, `extend-N`, inside the experiment folder.

The same cell means the same combination (the AXES), the same overrides of its model, the
same dataset fingerprint where one is recorded, the same project version, and the same
spec-level settings that the cell uses (`SETTING_USERS`): the repair's model for a cell that
repairs, the transition matrix for `matrix` damage, the reference model for `confusion`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from datavsmath.sweeps.progress import trial_name
from datavsmath.sweeps.spec import Spec
from datavsmath.trainables.repair import AUDIT, MODEL_REPAIRS, VOTE

LISTED = 5  # a refusal names this many changed cells
# Spec-level settings, each with the cells whose result depends on it.
SETTING_USERS: dict[str, Callable[[Mapping[str, Any]], bool]] = {
    "repair_model": lambda cell: cell.get("repair") in MODEL_REPAIRS,
    "audit_frac": lambda cell: cell.get("repair") == AUDIT,
    "vote_k": lambda cell: cell.get("repair") == VOTE,
    "damage_test": lambda cell: True,
    "transition": lambda cell: cell["damage_mode"] == "matrix",
    "confusion": lambda cell: cell["damage_mode"] == "confusion",
}


def spec_settings(spec: Spec) -> dict[str, Any]:
    """The spec's SETTING_USERS settings, as plain data comparable across stored specs."""
    transition = None if spec.transition is None else [[float(v) for v in row] for row in spec.transition]
    return {"repair_model": dict(spec.repair_model), "transition": transition, "confusion": dict(spec.confusion),
            "audit_frac": spec.audit_frac, "vote_k": spec.vote_k, "damage_test": spec.damage_test}


@dataclass(frozen=True)
class Finished:
    """A cell that finished in an earlier run: its config (AXES, overrides, version and,
    where recorded, dataset_fingerprint, as in its params.json), where it ran, and the
    spec_settings of the run that ran it ({} when unknown: then they are not compared)."""

    config: Mapping[str, Any]
    where: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Extension:
    """kept: finished cells the spec asks for again, unchanged; new: cells to run;
    changed: cells that finished with other settings (run again only on --rerun-changed),
    each with what differs."""

    kept: list[dict[str, Any]] = field(default_factory=list)
    new: list[dict[str, Any]] = field(default_factory=list)
    changed: list[tuple[dict[str, Any], str]] = field(default_factory=list)


def _setting_differences(cell: Mapping[str, Any], before: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """The spec-level settings that `cell` uses and that differ between its run and the spec."""
    out = []
    for key, uses in SETTING_USERS.items():
        if key in before and key in now and uses(cell) and before[key] != now[key]:
            out.append(f"{key} changed" if key == "transition" else f"{key} {before[key]} -> {now[key]}")
    return out


def _differences(before: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """What differs between a finished cell's recorded settings and the spec's, in words."""
    out = []
    if dict(before.get("overrides") or {}) != dict(now.get("overrides") or {}):
        out.append(f"overrides {dict(before.get('overrides') or {})} -> {dict(now.get('overrides') or {})}")
    if before.get("version") != now.get("version"):
        out.append(f"datavsmath version {before.get('version') or 'unrecorded'} -> {now.get('version')}")
    fingerprint = before.get("dataset_fingerprint")
    if fingerprint is not None and fingerprint != now.get("dataset_fingerprint"):
        out.append("dataset fingerprint")
    return out


def plan_extension(trials: Iterable[Mapping[str, Any]], *, overrides: Mapping[str, Mapping[str, Any]],
                   version: str, finished: Iterable[Finished], dataset_fingerprint: str | None = None,
                   settings: Mapping[str, Any] | None = None, rerun_changed: bool = False) -> Extension:
    """Split the spec's cells into kept, new and changed.

    trials: the spec's cells (dicts of the AXES), in run order.
    overrides: the spec's model overrides; version: this project's version.
    settings: the spec's spec_settings (None: not compared).
    finished: the cells that finished in the experiment so far (a cell finished twice: the
        last one given counts, as the results loader keeps the latest finished run).
    rerun_changed: changed cells go into `new` as well as `changed`.
    """
    done = {trial_name(f.config): f for f in finished}
    plan = Extension()
    for trial in trials:
        cell = dict(trial)
        before = done.get(trial_name(cell))
        if before is None:
            plan.new.append(cell)
            continue
        now = {"overrides": overrides.get(cell["model"], {}), "version": version,
               "dataset_fingerprint": dataset_fingerprint}
        why = _differences(before.config, now) + _setting_differences(cell, before.settings, settings or {})
        if not why:
            plan.kept.append(cell)
            continue
        plan.changed.append((cell, "; ".join(why)))
        if rerun_changed:
            plan.new.append(cell)
    return plan


def changed_message(plan: Extension) -> str:
    """The refusal for changed cells without --rerun-changed, naming them."""
    named = [f"{trial_name(cell)} ({why})" for cell, why in plan.changed[:LISTED]]
    more = f" and {len(plan.changed) - LISTED} more" if len(plan.changed) > LISTED else ""
    return (f"--extend: {len(plan.changed)} cell(s) already finished with other settings: {', '.join(named)}{more}; "
            f"pass --rerun-changed to run them again with the spec's settings, or start a new --name")

"""What a sweep would run, without running it: the `Plan` of `datavsmath.plan`, whose text
`--dry-run` prints."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from datavsmath._execute import plan_cells
from datavsmath.sweeps import cost, resources
from datavsmath.sweeps.adaptive_design import FIRST_SEEDS, FIRST_SIZES, cell_of, first_design
from datavsmath.sweeps.experiment_layout import experiment_path
from datavsmath.sweeps.extend import Extension
from datavsmath.sweeps.options import SweepOptions
from datavsmath.sweeps.ownership import check_extendable, experiment_name
from datavsmath.sweeps.search_keys import is_adaptive
from datavsmath.sweeps.spec import Spec, check_distinct_sizes, count_listed, expand_trials
from datavsmath.sweeps.tuner import plan_for
from datavsmath.trainables.datasets.peek import Peek, peek_dataset
from datavsmath.trainables.repair import NO_REPAIR

PREVIEW_ROWS = 6


def local_nodes() -> list[resources.Node]:
    """This machine as one node, without starting Ray (for --dry-run)."""
    try:
        import torch

        gpus = torch.cuda.device_count()
    except Exception:  # a broken CUDA install must not break a dry run
        gpus = 0
    return [resources.Node(node_id="local", address="local", cpu=float(os.cpu_count() or 1), gpu=float(gpus))]


@dataclass(frozen=True)
class Plan:
    """What a sweep would run, without running it (`datavsmath.plan`).

    Attributes
    ----------
    text : str
        The dry run's text, as ``datavsmath sweep --dry-run`` prints it: the trial count, a
        preview of the longest trials, each model's resource request and the compute estimate.
    cells : tuple of dict
        The trials to run, longest first, one config each (model, sample_frac, damage_frac,
        damage_mode, repair, seed); on ``extend`` only the new ones. An adaptive search runs
        at most its budget of them.
    seconds : float
        The cells' estimated compute in CPU-seconds on 1-thread trials.
    resources : dict
        Each model's request per trial, ``{model: {"cpu": ..., "gpu": ...}}``.
    """

    text: str
    cells: tuple[dict[str, Any], ...]
    seconds: float
    resources: dict[str, dict[str, float]]

    def __str__(self) -> str:
        return self.text


def dry_run(spec: Spec, *, options: SweepOptions, rerun_changed: bool = False,
            nodes: list[resources.Node] | None = None, peek: Peek | None = None) -> str:
    """The dry run's text: make_plan's."""
    return make_plan(spec, options=options, rerun_changed=rerun_changed, nodes=nodes, peek=peek).text


def make_plan(spec: Spec, *, options: SweepOptions, rerun_changed: bool = False,
              nodes: list[resources.Node] | None = None, peek: Peek | None = None) -> Plan:
    """The plan of `spec`: trial count, grid preview, resource plan, compute estimate. On
    --extend the experiment's finished cells are counted as "kept" and only the new ones are
    previewed and estimated (SweepError, as the run's own, when there is no experiment to extend)."""
    extension = None
    if options.extend:
        exp_dir = experiment_path(options.storage, experiment_name(spec, options=options))
        check_extendable(exp_dir)
        extension = plan_cells(spec, exp_dir=exp_dir, rerun_changed=rerun_changed)
    return describe(spec, options=options, nodes=nodes, extension=extension, peek=peek)


def describe(spec: Spec, *, options: SweepOptions, nodes: list[resources.Node] | None = None,
             extension: Extension | None = None, peek: Peek | None = None) -> Plan:
    """The plan, with the text --dry-run prints: trial count, grid preview, resource plan, compute estimate.

    extension: on --extend, the cells kept from earlier runs are counted as "kept" and only
    the new ones are previewed and estimated. peek: the sizes of a table, image folder or
    arrays file that is not on disk yet (the Python API's in-memory data); default: read from
    its file.

    Refuses what the run would refuse before its first trial: SpecError for --resources of a
    model that is not in the sweep, InfeasibleRequestError (a SweepError) for a request that
    fits no node of `nodes` (default: this machine).
    """
    nodes = nodes or local_nodes()
    plan = plan_for(spec, nodes=nodes, options=options)
    info = spec.dataset_info  # None for a table, image folder or arrays file: its header or listing is read
    if info is None and peek is None:
        peek = peek_dataset(spec.dataset)
    n_train = info.n_train if info is not None else peek.n_train if peek is not None else 0
    cells = expand_trials(spec)
    if n_train:
        check_distinct_sizes(cells, n_train=n_train)
    folds = int(spec.repair_model["folds"])
    trials = cost.longest_first(cells if extension is None else extension.new, overrides=spec.settings,
                                n_train=n_train, repair_folds=folds)
    listed = count_listed(spec)

    def estimate(t: dict) -> float:
        return cost.estimate_seconds(t, n_train=n_train, overrides=spec.settings.get(t["model"]), repair_folds=folds)

    seconds = sum(estimate(t) for t in trials)
    lines = [f"spec {spec.name!r} ({spec.source}): {len(cells)} {'cells' if is_adaptive(spec.search) else 'trials'}"
             + (f" ({listed} grid points, {listed - len(cells)} duplicates merged)" if listed != len(cells) else ""),
             f"models: {', '.join(spec.models)}; seeds: {list(spec.seeds)}"]
    if extension is not None:
        lines.append(f"kept: {len(extension.kept)} cells finished earlier; to run: {len(extension.new)}"
                     + (f" ({len(extension.changed)} changed, run again)" if extension.changed else ""))
    if is_adaptive(spec.search):
        lines += _adaptive_lines(spec, trials=trials, estimate=estimate,
                                 kept=[] if extension is None else extension.kept)
    else:
        lines.append("first trials (longest first):" if trials else "nothing to run")
        lines += _preview(trials)
    lines.append("resource request per model:")
    lines += resources.describe_plan(plan, nodes=nodes)
    if peek is not None:
        lines.append(f"dataset: {spec.dataset['kind']} {spec.dataset['path']}: {peek.n_train:,} training and "
                     f"{peek.n_test:,} test {'images' if spec.dataset['kind'] == 'images' else 'rows'} (from "
                     f"{peek.how}; its values are read and checked when the sweep starts)")
    if not is_adaptive(spec.search):  # an adaptive search's compute estimate is the search's, above
        lines.append(f"estimated compute: {seconds / 60:.1f} CPU-minutes on 1-thread trials")
    return Plan(text="\n".join(lines), cells=tuple(trials), seconds=seconds,
                resources={model: dict(request) for model, request in plan.items()})


def _preview(trials: list[dict]) -> list[str]:
    """The first PREVIEW_ROWS trials, one line each, and how many more."""
    lines = [f"  model={t['model']} sample_frac={t['sample_frac']:g} damage_frac={t['damage_frac']:g} "
             f"damage_mode={t['damage_mode']} seed={t['seed']}"
             + (f" repair={t['repair']}" if t.get("repair", NO_REPAIR) != NO_REPAIR else "")
             for t in trials[:PREVIEW_ROWS]]
    if len(trials) > PREVIEW_ROWS:
        lines.append(f"  ... and {len(trials) - PREVIEW_ROWS} more")
    return lines


def _first_seeds() -> str:
    return "its first seed" if FIRST_SEEDS == 1 else f"its first {FIRST_SEEDS} seeds"


def _adaptive_lines(spec: Spec, *, trials: list[dict], estimate: Callable[[dict], float],
                    kept: list[dict]) -> list[str]:
    """An adaptive search: its targets, tolerance and budget, the first design (the trials it
    runs before its first refit, at most the budget) and the compute of both. kept: on
    --extend, the cells run earlier: they count toward the budget, and their curves have no
    first design."""
    search = spec.search
    budget = max(int(search["budget"]) - len(kept), 0)
    by_cell = {cell_of(t): t for t in trials}
    design = [by_cell[c] for c in first_design(list(by_cell), ran=[cell_of(c) for c in kept])][:budget]
    targets = ", ".join(f"{metric} > {value:g}" for metric, value in search["target"].items())
    longest = sorted((estimate(t) for t in trials), reverse=True)[:budget]
    earlier = f" ({search['budget']} in all, {len(kept)} run earlier)" if kept else ""
    return [f"adaptive search: {targets} per curve, to within ±{search['tolerance']:.0%}; budget {budget} trials"
            f"{earlier} of the {len(trials)} cells",
            (f"first design: {len(design)} trials ({FIRST_SIZES} log-spaced sample_frac per curve, "
             f"{_first_seeds()}), then one cell at a time where a crossing is least certain:" if design or not kept
             else "first design: none (every curve ran earlier); one cell at a time where a crossing is least certain"),
            *_preview(design),
            f"estimated compute: {sum(estimate(t) for t in design) / 60:.1f} CPU-minutes for the first design, at most "
            f"{sum(longest) / 60:.1f} within the budget, on 1-thread trials"]

"""An adaptive sweep inside the runner: the searcher over the spec's cells, wrapped in Tune's
ConcurrencyLimiter (as many trials at once as fit the cluster), and how it ended, read back
from the searcher state Tune saved in the experiment directory (a resumed run included).

The estimator is passed in (datavsmath.analysis.crossing_estimate.estimate_crossing from the API and
the CLI): sweeps does not import the analysis.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from datavsmath.sweeps import resources
from datavsmath.sweeps.adaptive_design import SearchSummary
from datavsmath.sweeps.experiment_layout import SEARCHER_STATE_GLOB
from datavsmath.sweeps.progress import trial_name
from datavsmath.sweeps.spec import Spec
from datavsmath.trainables import storage


@dataclass(frozen=True)
class TrialConfigs:
    """A cell (model, sample_frac, damage_frac, damage_mode, repair, seed) -> its trial's config,
    as a grid trial of the same cell gets it: rows by trial name (datavsmath.sweeps.tuner.trial_rows)
    and the version. Pickled into tuner.pkl with the searcher."""

    rows: Mapping[str, dict[str, Any]]
    version: str

    def __call__(self, cell: dict[str, Any]) -> dict[str, Any]:
        name = trial_name(cell)
        return {"name": name, **self.rows[name], "version": self.version}


def trials_at_once(plan: Mapping[str, Mapping[str, float]], *, nodes: list[resources.Node]) -> int:
    """The most trials that fit the cluster at once (the model that fits most), at least 1."""
    return max(1, max((sum(resources.concurrency(r, n) for n in nodes) for r in plan.values()), default=1))


def make_searcher(spec: Spec, *, trials: list[dict[str, Any]], estimate: Callable[..., Any],
                  confirm: Callable[..., Any] | None = None,
                  config_of: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                  earlier: Sequence[Mapping[str, Any]] = ()) -> Any:
    """The AdaptiveSearcher of the spec's `search:` over `trials` (the candidate cells);
    estimate, confirm and earlier (--extend: the trials that finished before) as
    AdaptiveSearcher takes them."""
    from datavsmath.sweeps.adaptive import AdaptiveSearcher  # ray.tune: only when a search runs

    search = spec.search
    return AdaptiveSearcher(trials, targets=search["target"], estimate=estimate, confirm=confirm,
                            tolerance=search["tolerance"], budget=search["budget"], config_of=config_of,
                            earlier=earlier)


def search_alg(spec: Spec, *, trials: list[dict[str, Any]], estimate: Callable[..., Any],
               config_of: TrialConfigs, max_concurrent: int, confirm: Callable[..., Any] | None = None,
               earlier: Sequence[Mapping[str, Any]] = ()) -> Any:
    """Tune's search_alg: the searcher behind a ConcurrencyLimiter of `max_concurrent`."""
    from ray.tune.search import ConcurrencyLimiter

    searcher = make_searcher(spec, trials=trials, estimate=estimate, confirm=confirm, config_of=config_of,
                             earlier=earlier)
    return ConcurrencyLimiter(searcher, max_concurrent=max_concurrent)


def read_summary(part_dir: str, spec: Spec, *, trials: list[dict[str, Any]],
                 estimate: Callable[..., Any]) -> SearchSummary | None:
    """How the search of the Tune experiment `part_dir` stands, from its newest saved searcher
    state (Tune saves it with its experiment state, and once more when the run ends); None
    before any was saved."""
    fs, root = storage.open_location(part_dir)
    prefix, suffix = SEARCHER_STATE_GLOB
    saved = sorted(info.base_name for info in storage.list_dir(fs, root)
                   if info.base_name.startswith(prefix) and info.base_name.endswith(suffix))
    if not saved:
        return None
    searcher = make_searcher(spec, trials=trials, estimate=estimate)
    searcher.restore_bytes(storage.read_bytes(storage.join(part_dir, saved[-1])))
    return searcher.outcome()


def latest_summary(parts: Sequence[str], spec: Spec, *, trials: list[dict[str, Any]],
                   estimate: Callable[..., Any]) -> SearchSummary | None:
    """read_summary of the last of `parts` (an experiment's Tune experiments in the order run:
    the first run, then its --extend runs) that has a saved searcher state: an extension's
    searcher carries the earlier runs' points on."""
    for part in reversed(parts):
        found = read_summary(part, spec, trials=trials, estimate=estimate)
        if found is not None:
            return found
    return None

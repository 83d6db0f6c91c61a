"""Adaptive sweeps: a Ray Tune searcher that runs the cells where the answer is uncertain.

The spec's axes give the candidate cells; the answer is, per curve (model, damage_mode,
damage_frac, repair) and target (metric > value), the num_obs where the curve crosses the
target, with its interval. The searcher

1. runs a coarse first design: FIRST_SIZES log-spaced sample fractions of every curve, with
   the first FIRST_SEEDS seed(s);
2. after each finished trial, re-estimates the crossings of that trial's curve (an
   `estimate` function, e.g. datavsmath.analysis.crossing_estimate.estimate_crossing, passed in: sweeps
   does not import the analysis); one that looks met is estimated again with `confirm` (e.g.
   crossing_estimate.summary_crossing, more bootstrap draws), whose interval decides;
3. proposes, for the open crossing with the widest relative interval among those whose
   tolerance its unrun cells can still meet (the estimate's `excess`: how many times wider its
   interval is than with every unrun cell run; the others, and those the fit never reaches,
   come later), the unrun cell that most narrows that interval: the one whose size
   the estimate's `narrowing(sizes, target=)` rates highest (datavsmath.analysis.crossing_estimate:
   the delta method on its fit), or, for an estimate without one, the cell nearest in log
   size to the crossing;
4. stops (Searcher.FINISHED) when every crossing's 95 % interval is within ±tolerance of it,
   it is confidently unreachable, or its whole interval lies beyond the sizes the report
   gives a number for (the estimate's `beyond`); when `budget` trials were proposed; or when no
   cell is left. `stop_reason` says which.

Trials are ordinary cells: `config_of(cell)` turns one into the trial's config. The state
(finished points, proposed cells) is saved and restored with Tune's searcher checkpoints, so a
resumed sweep carries on; an extended one (--extend) starts from the earlier runs' trials
(`earlier`).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ray.tune.search import Searcher

from datavsmath.sweeps.adaptive_design import (  # noqa: F401  (cell_of, first_design: this module's API too)
    Cell,
    Crossing,
    SearchSummary,
    cell_of,
    curve_of,
    first_design,
)
from datavsmath.sweeps.search_keys import DEFAULT_BUDGET, DEFAULT_TOLERANCE


@dataclass
class AdaptiveState:
    """Everything a restored searcher needs: the cells proposed (in order), trial id -> cell,
    the finished points {cell: {metric: value, "n_train": n}}, the cells whose trial errored
    (after Tune's retries), and why it stopped."""

    proposed: list[Cell] = field(default_factory=list)
    trials: dict[str, Cell] = field(default_factory=dict)
    points: dict[Cell, dict[str, float]] = field(default_factory=dict)
    stop_reason: str = ""
    failed: set[Cell] = field(default_factory=set)


class AdaptiveSearcher(Searcher):
    """A Tune Searcher over a fixed set of candidate cells (module docstring).

    cells: the candidate configs' axes (dicts with model, sample_frac, damage_frac,
    damage_mode, repair, seed); targets: {metric: value in (0, 1)}; tolerance: the relative
    half-width of a 95 % interval that counts as pinned down (default 0.15); budget: the most
    trials to propose (default 60); estimate(n, values, target=...) -> an object with
    estimate, low, high, p_reachable and relative_width; confirm: an estimate of the same kind
    whose interval decides that a crossing is met (e.g. one with more bootstrap draws: the
    quick estimate's interval varies enough between draws to call a crossing met that is
    not; default: `estimate` alone); config_of(cell dict) -> the trial's
    config (default: the cell itself); earlier: trials that finished in earlier runs of the
    experiment (--extend), each its axes with its metrics and n_train: they count as proposed
    (toward the budget) and finished, and a curve that has some skips the first design.
    """

    def __init__(self, cells: Sequence[Mapping[str, Any]], *, targets: Mapping[str, float],
                 estimate: Callable[..., Any], tolerance: float = DEFAULT_TOLERANCE, budget: int = DEFAULT_BUDGET,
                 confirm: Callable[..., Any] | None = None,
                 config_of: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                 unreachable_below: float = 0.05, earlier: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__(metric=next(iter(targets)), mode="max")
        self.cells = list(dict.fromkeys([*(cell_of(c) for c in cells), *(cell_of(r) for r in earlier)]))
        self.targets = dict(targets)
        self.estimate = estimate
        self.confirm = confirm
        self.tolerance = tolerance
        self.budget = budget
        self.config_of = config_of or (lambda cell: dict(cell))
        self.unreachable_below = unreachable_below
        self.state = AdaptiveState()
        self._found: dict[int, Any] = {}  # crossing index -> its latest estimate (rebuilt by refit)
        self.crossings = [Crossing(curve, metric, target) for curve in dict.fromkeys(curve_of(c) for c in self.cells)
                          for metric, target in self.targets.items()]
        for row in earlier:
            cell = cell_of(row)
            self.state.proposed.append(cell)
            self.state.points[cell] = {k: float(row[k]) for k in (*self.targets, "n_train") if k in row}
        self._design = first_design(self.cells, ran=list(self.state.points))
        if earlier:
            self.refit()

    # --- Tune's interface ------------------------------------------------------------

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        cell = self._next()
        if cell is None:  # Tune's FINISHED marker is a string where its signature says dict
            return Searcher.FINISHED if self.state.stop_reason else None  # type: ignore[return-value]
        self.state.proposed.append(cell)
        self.state.trials[trial_id] = cell
        return self.config_of(dict(cell))

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        cell = self.state.trials.get(trial_id)
        if cell is None:
            return
        if error or not result or not any(k in result for k in self.targets):
            self.state.failed.add(cell)  # never proposed again, and no longer awaited
            return
        self.state.failed.discard(cell)  # a retried trial (--resume --retry-errored) that finished
        self.state.points[cell] = {k: float(result[k]) for k in (*self.targets, "n_train") if k in result}
        self.refit(curve=curve_of(cell))

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.state, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.restore_bytes(f.read())

    def restore_bytes(self, saved: bytes) -> None:
        """restore() from the bytes save() wrote (read from any storage)."""
        state = pickle.loads(saved)
        self.state = AdaptiveState(**vars(state))  # a state saved before a field existed gets its default
        self.refit()

    # --- the choice ---------------------------------------------------------------------

    def refit(self, *, curve: Cell | None = None) -> None:
        """Re-estimate the crossings of `curve` (default: every crossing) from the finished points;
        one that looks met is estimated again with `confirm`, whose interval then decides."""
        confirm = getattr(self, "confirm", None)  # None in a searcher pickled before it existed
        for index, crossing in enumerate(self.crossings):
            if curve is not None and crossing.curve != curve:
                continue
            points = [(p.get("n_train", dict(c)["sample_frac"]), p[crossing.metric])
                      for c, p in self.state.points.items() if curve_of(c) == crossing.curve and crossing.metric in p]
            if not points:
                continue
            n, values = (np.array(x, dtype=float) for x in zip(*points))
            found = self.estimate(n, values, target=crossing.target)
            if confirm is not None and found.relative_width <= self.tolerance:
                found = confirm(n, values, target=crossing.target)
            self._found[index] = found
            crossing.estimate, crossing.low, crossing.high = found.estimate, found.low, found.high
            crossing.p_reachable = found.p_reachable
            crossing.how = str(getattr(found, "how", ""))
            crossing.status = self._status(crossing, found)

    def _status(self, crossing: Crossing, found: Any) -> str:
        """met, unreachable (never, or few draws reach it), beyond (the whole interval past the
        sizes the report gives a number for), past (extrapolated past the largest size the spec
        sweeps, which has run: no cell can pin it down), else open."""
        if found.relative_width <= self.tolerance:
            return "met"
        if np.isinf(found.estimate) or found.p_reachable < self.unreachable_below:
            return "unreachable"
        if getattr(found, "beyond", False):
            return "beyond"
        if getattr(found, "past_data", False) and self._largest_ran(crossing.curve):
            return "past"
        return "open"

    def _largest_ran(self, curve: Cell) -> bool:
        """Whether every candidate cell (every seed) at the curve's largest size has finished or
        failed: a target within the seeds' noise of the top may still be reached there."""
        members = [c for c in self.cells if curve_of(c) == curve]
        largest = max(dict(c)["sample_frac"] for c in members)
        return all(c in self.state.points or c in self.state.failed
                   for c in members if dict(c)["sample_frac"] == largest)

    def _next(self) -> Cell | None:
        """The next cell to run, or None (with stop_reason set when the search is over)."""
        if len(self.state.proposed) >= self.budget:
            self.state.stop_reason = f"budget spent: {self.budget} trials proposed"
            return None
        done = set(self.state.proposed)
        for cell in self._design:
            if cell not in done:
                return cell
        pending = len(self.state.proposed) - len(self.state.points) - len(self.state.failed)
        open_ones = [c for c in self.crossings if c.status == "open"]
        if not open_ones:
            if pending:
                return None  # wait: the running trials may reopen a crossing
            self.state.stop_reason = self._settled()
            return None
        for crossing in sorted(open_ones, key=lambda c: self._priority(c, done), reverse=True):
            nearest = self._closest(crossing, done)
            if nearest is not None:
                return nearest
        if not pending:
            self.state.stop_reason = "no cell left: every candidate cell of the open crossings has run"
        return None

    def _settled(self) -> str:
        """Why the search ends when no crossing is open: "tolerance met: ...", "unreachable: ...",
        "beyond the data: ...", or those joined when the crossings settled differently."""
        reasons = {"met": ("tolerance met", f"its 95 % interval is within ±{self.tolerance:.0%} of it"),
                   "unreachable": ("unreachable", "its target is confidently out of reach of its curve"),
                   "beyond": ("beyond the data", "its whole interval lies past the sizes the report gives a number "
                                                 "for"),
                   "past": ("past the sizes swept", "its target lies past the largest size swept, which has run "
                                                    "(the report extrapolates it)")}
        present = [reasons[s] for s in reasons if any(c.status == s for c in self.crossings)]
        names, whys = (", ".join(name for name, _ in present), " or ".join(why for _, why in present))
        return f"{names}: for every crossing, {whys}"

    def _closest(self, crossing: Crossing, done: set[Cell]) -> Cell | None:
        """The unrun cell of the crossing's curve that most narrows its interval (module
        docstring, step 3); among equals, and without a rating, the one nearest in log size
        to its estimate (the largest size when it lies beyond), fewer seeds first."""
        members = [c for c in self.cells if curve_of(c) == crossing.curve and c not in done]
        if not members:
            return None
        sizes = {dict(c)["sample_frac"]: self._size(c) for c in self.cells if curve_of(c) == crossing.curve}
        found = self._found.get(self.crossings.index(crossing))
        aim = crossing.estimate if np.isfinite(crossing.estimate) and crossing.estimate > 0 else max(sizes.values())
        if getattr(found, "past_data", False):  # past the points: only the largest sizes can reach it
            aim = max(sizes.values())
        rate = None if getattr(found, "past_data", False) else getattr(found, "narrowing", None)
        fracs = sorted({dict(c)["sample_frac"] for c in members})
        gain = dict(zip(fracs, rate(np.array([sizes[f] for f in fracs]), target=crossing.target)
                        if rate is not None else np.zeros(len(fracs))))
        return min(members, key=lambda c: (-float(gain[dict(c)["sample_frac"]]),
                                           abs(np.log(sizes[dict(c)["sample_frac"]]) - np.log(aim)),
                                           dict(c)["seed"]))

    def _priority(self, crossing: Crossing, done: set[Cell]) -> tuple[bool, bool, float, float]:
        """Open crossings in the order they get trials: first those the fit reaches or cannot
        tell yet (NaN: too few sizes), then those it never reaches (inf: such a curve, perhaps
        out of reach, took the whole budget in bench_adaptive). Within each, first those whose
        tolerance the unrun cells can still meet (the estimate's `excess` over them: the
        interval with every unrun cell run is `relative width / excess` wide), then the widest
        relative interval first; among unbounded ones (too few points), the largest `excess`
        first. Without the second key, a crossing in the flat part of its curve,
        which no cell narrows enough, took most of bench_adaptive's budget; ranking by `excess`
        alone starved a crossing that needed many cells in favour of one near many cells."""
        width = _width(crossing)
        found = self._found.get(self.crossings.index(crossing))
        excess = getattr(found, "excess", None)
        attainable, times = True, 0.0
        if excess is not None and not getattr(found, "past_data", False):  # past the points: a larger size settles it
            unrun = [self._size(c) for c in self.cells if curve_of(c) == crossing.curve and c not in done]
            times = float(excess(np.array(unrun), target=crossing.target))
            # An unbounded interval (too few points for a bootstrap) counts as out of reach
            # until the fit crosses where its cells can pin it down (times inf).
            attainable = not np.isfinite(times) or width / times <= self.tolerance
        return not bool(np.isinf(crossing.estimate)), attainable, width, times

    def _size(self, cell: Cell) -> float:
        """A cell's num_obs: a finished trial's n_train at that size, else scaled from one."""
        frac = dict(cell)["sample_frac"]
        for c, p in self.state.points.items():
            if curve_of(c) == curve_of(cell) and "n_train" in p and dict(c)["sample_frac"] > 0:
                return float(p["n_train"]) * frac / dict(c)["sample_frac"]
        return float(frac)

    def outcome(self) -> SearchSummary:
        """Why it stopped, the trials proposed and finished, and every crossing (copies)."""
        return SearchSummary(stop_reason=self.state.stop_reason, proposed=len(self.state.proposed),
                             finished=len(self.state.points),
                             crossings=tuple(Crossing(**vars(c)) for c in self.crossings))

    def summary(self) -> list[str]:
        """Why it stopped, then one line per crossing."""
        return [f"stopped: {self.state.stop_reason or 'running'}; {len(self.state.points)} trials finished",
                *(c.text() for c in self.crossings)]


def _width(crossing: Crossing) -> float:
    if not np.isfinite(crossing.estimate) or crossing.estimate <= 0:
        return np.inf
    return (crossing.high - crossing.low) / 2 / crossing.estimate

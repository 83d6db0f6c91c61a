"""How to run a spec (`SweepOptions`), what a run did (`SweepRun`), and the error that stops
one (`SweepError`). No ray import here."""

from __future__ import annotations

from dataclasses import dataclass, field

from datavsmath.sweeps.adaptive_design import SearchSummary
from datavsmath.trainables.checks import DatavsmathError

DEFAULT_STORAGE = "results"
DEFAULT_MAX_FAILURES = 2


class SweepError(DatavsmathError, RuntimeError):
    """A run that cannot go on, its input being fine: the experiment's lock is held, no node
    fits a request, the storage or the cluster cannot be reached. The CLI prints it without a
    traceback; it is not bad input (SpecError)."""


@dataclass(frozen=True)
class SweepOptions:
    """How to run a spec. Paths may be local or pyarrow URIs (s3://, gs://)."""

    storage: str = DEFAULT_STORAGE
    name: str | None = None
    address: str | None = None
    data_dir: str | None = None
    download: bool = True
    resume: bool = False
    retry_errored: bool = False
    overwrite: bool = False
    max_failures: int | None = None
    gpu_share: float | None = None
    resource_overrides: dict[str, dict[str, float]] = field(default_factory=dict)
    dashboard: bool = True
    verbose: int = 1
    extend: bool = False

    @property
    def embedded(self) -> bool:
        """Whether the sweep starts its own local Ray (no --address, or "local")."""
        return self.address in (None, "local")


@dataclass(frozen=True)
class SweepRun:
    """What `run_sweep` did: where the experiment is, how many trials it holds, how long
    Tune took against the makespan's lower bound (0 when no trial reported), how many of its
    trials fit the cluster at once, and for an adaptive sweep how its search ended (why it
    stopped, each crossing and its interval)."""

    experiment_dir: str
    n_trials: int
    makespan_s: float
    lower_bound_s: float
    search: SearchSummary | None = None
    trials_at_once: int = 1

    @property
    def makespan_ratio(self) -> float:
        return self.makespan_s / self.lower_bound_s if self.lower_bound_s > 0 else float("nan")

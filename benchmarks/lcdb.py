"""LCDB 1.0's real learning curves, and the protocol that scores a crossing estimator on them.

LCDB 1.0 (Mohr, Viering et al. 2022, MIT) holds learning curves of 20 scikit-learn learners
on 246 OpenML datasets: sizes 16, 23, 32, ... (steps of sqrt 2) up to the dataset's
training size N, 5 outer splits x 5 inner seeds. It comes from the package index as the
source archive of ``lcdb==0.1.0`` (68 MB); this module reads ``lcdb/database-accuracy.csv``
from the archive (the package itself needs ``openml``, so it is not imported) and caches a
reduced table (one row per dataset, learner, size and outer split: the test accuracy, mean
over the inner seeds) in the user's cache folder, never in the repository.

The protocol (`targets`): a curve's outer splits are its seeds. It is cut off at N/16, N/8
or N/4 (the sizes up to the cut-off are what an estimator sees, at least `MIN_SIZES` of
them); the targets are the values of a monotone (isotonic) fit of the full mean curve at each
larger size where that exceeds the value at the cut-off by more than max(0.01, two standard
errors of the mean there); the truth is the first size where the monotone fit reaches the
target (log-linear between sizes: a size of the curve). One more target per cut-off lies
above everything the curve reaches (its largest monotone value plus the same margin): it
scores P(reachable), never the sizes.

Datasets with an even OpenML id are for choosing and fitting anything; those with an odd id
are for reporting.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from datavsmath.analysis.families import isotonic_increasing

VERSION = "0.1.0"
MEMBER = f"lcdb-{VERSION}/lcdb/database-accuracy.csv"
CUTOFFS = (16, 8, 4)
MIN_SIZES = 5
MIN_GAP = 0.01


def cache_dir() -> Path:
    """The user's cache folder for LCDB (XDG_CACHE_HOME or ~/.cache, then datavsmath/lcdb)."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "datavsmath" / "lcdb"


def reduced_path() -> Path:
    return cache_dir() / f"lcdb-{VERSION}-accuracy.parquet"


def download(folder: Path) -> Path:
    """The source archive of lcdb==VERSION, fetched with pip into `folder` (pip's cache makes a
    second fetch local)."""
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / f"lcdb-{VERSION}.tar.gz"
    if not archive.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                        f"lcdb=={VERSION}", "-d", str(folder)], check=True)
    return archive


def reduce_archive(archive: Path) -> pd.DataFrame:
    """The reduced table of the archive's accuracy database: columns openmlid, learner,
    size_train, outer_seed, acc (score_test, mean over inner seeds)."""
    with tarfile.open(archive) as tar:
        member = tar.extractfile(MEMBER)
        if member is None:
            raise FileNotFoundError(f"{MEMBER} is not in {archive}")
        raw = pd.read_csv(member, usecols=["openmlid", "learner", "size_train", "outer_seed", "score_test"])
    reduced = (raw.groupby(["openmlid", "learner", "size_train", "outer_seed"], as_index=False)["score_test"].mean()
               .rename(columns={"score_test": "acc"}))
    reduced["learner"] = reduced["learner"].astype("category")
    return reduced


def load(*, fetch: bool = True) -> pd.DataFrame:
    """The reduced table (`reduce_archive`), from the cache; built there first when absent
    (fetch=False: FileNotFoundError instead of downloading)."""
    path = reduced_path()
    if not path.exists():
        if not fetch:
            raise FileNotFoundError(f"{path} is missing: run `make lcdb` (or this module's `load()`) once")
        with tempfile.TemporaryDirectory() as tmp:
            table = reduce_archive(download(Path(tmp)))
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        table.to_parquet(partial, index=False)
        partial.replace(path)
    return pd.read_parquet(path)


@dataclass(frozen=True)
class Curve:
    """One learning curve: n (k,) sizes ascending, grid (n_seeds, k) accuracy per outer split
    (NaN where absent)."""

    openmlid: int
    learner: str
    n: np.ndarray
    grid: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        present = np.isfinite(self.grid)
        with np.errstate(invalid="ignore"):
            return np.where(present, self.grid, 0.0).sum(axis=0) / present.sum(axis=0)


def curves(table: pd.DataFrame, *, parity: str | None = None) -> Iterator[Curve]:
    """Every curve of the reduced table (datasets of one `parity`, "even" or "odd", or all),
    by OpenML id then learner."""
    if parity is not None:
        table = table[table["openmlid"] % 2 == (0 if parity == "even" else 1)]
    for (openmlid, learner), rows in table.groupby(["openmlid", "learner"], observed=True, sort=True):
        pivot = rows.pivot_table(index="outer_seed", columns="size_train", values="acc", aggfunc="mean")
        yield Curve(int(openmlid), str(learner), pivot.columns.to_numpy(dtype=float), pivot.to_numpy(dtype=float))


@dataclass(frozen=True)
class Case:
    """One cut-off of a curve: what an estimator sees (n, grid up to the cut-off), the targets
    (m,) and their truth (m,): the size where the full curve reaches each (inf: the one
    target above everything the curve reaches)."""

    curve: Curve
    cutoff: int
    n: np.ndarray
    grid: np.ndarray
    targets: np.ndarray
    truth: np.ndarray

    @property
    def largest(self) -> float:
        return float(self.n[-1])


def _standard_error(column: np.ndarray) -> float:
    present = column[np.isfinite(column)]
    return float(np.std(present, ddof=1) / np.sqrt(present.size)) if present.size > 1 else 0.0


def visible(curve: Curve) -> tuple[np.ndarray, np.ndarray]:
    """(n (k,), grid (n_seeds, k)) of the sizes with a value."""
    keep = np.isfinite(curve.mean)
    return curve.n[keep], curve.grid[:, keep]


def cases(curve: Curve, *, cutoffs: tuple[int, ...] = CUTOFFS) -> list[Case]:
    """The protocol's cases of one curve (module docstring); none for a cut-off with fewer
    than MIN_SIZES sizes or no target."""
    n, grid = visible(curve)
    mean = Curve(curve.openmlid, curve.learner, n, grid).mean
    if n.size < MIN_SIZES + 1:
        return []
    monotone = isotonic_increasing(mean)
    out = []
    for cutoff in cutoffs:
        seen = n <= n[-1] / cutoff
        if seen.sum() < MIN_SIZES:
            continue
        at = int(np.flatnonzero(seen)[-1])
        margin = max(MIN_GAP, 2 * _standard_error(grid[:, at]))
        reachable = np.unique(monotone[at + 1:][monotone[at + 1:] > monotone[at] + margin])
        truth = np.array([n[np.flatnonzero(monotone >= t)[0]] for t in reachable])
        above = monotone[-1] + margin
        targets = np.append(reachable, above) if above < 1 else reachable
        truth = np.append(truth, np.inf) if above < 1 else truth
        if reachable.size:
            out.append(Case(curve, cutoff, n[seen], grid[:, seen], targets, truth))
    return out


if __name__ == "__main__":
    # `make lcdb`: fetch the archive once and cache the reduced table (a test input).
    print(f"LCDB {VERSION}: {len(load()):,} rows in {reduced_path()}")

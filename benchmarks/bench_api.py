"""datavsmath.sweep in one process against a plain script doing the same fits.

Two tiny rf trials (1 % of Fashion-MNIST's training set, 1 tree, seeds 0 and 1, each scored on
the full 10,000-image test set), as `datavsmath.sweep("fashion_mnist", ...)` and as a plain
loop over the project's own functions with the same data load (find, verify, read the IDX
files; subset; fit; predict; score). The plain loop runs as a script (a fresh process:
interpreter, imports, data, fits) and, warm, inside this process. In one process: the first
sweep (it starts Ray), then `--rounds` alternations of a later sweep (Ray up already), the
script and the warm loop. Prints the seconds of each and the ratios sweep / script (median
over rounds; goal for a later sweep <= 1.5) and sweep / warm loop.

Each measurement starts on a quiet machine (_util.wait_quiet): after a call, datavsmath.sweep
starts the next call's workers in the background (their imports take ~2 CPU-seconds each),
as they would while a notebook's user reads the results; timing the script in that minute
would charge it their CPU. The seconds waited are printed. --back-to-back: no waiting, each
measurement right after the one before (the later sweep then shares the CPU with those
imports, and so does the script after it).

    python benchmarks/bench_api.py [--rounds 5] [--report] [--back-to-back]

--report: the sweeps also write the HTML report (default: result files only, no live report).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _util as U  # noqa: E402

SAMPLE_FRAC = 0.01
SEEDS = (0, 1)
RF = {"n_estimators": 1}


def plain() -> float:
    """The same two fits as a script would do them; returns the wall seconds."""
    start = time.perf_counter()
    from datavsmath.trainables.damage import make_training_set
    from datavsmath.trainables.datasets.built_in import FASHION_MNIST_IDX, find_data_root, read_fashion_mnist
    from datavsmath.trainables.metrics import evaluate
    from datavsmath.trainables.models import build_model

    data = read_fashion_mnist(find_data_root(download=False, source=FASHION_MNIST_IDX))
    for seed in SEEDS:
        subset = make_training_set(data.y_train, n_classes=data.n_classes, sample_frac=SAMPLE_FRAC, damage_frac=0.0,
                                   damage_mode="none", seed=seed)
        model = build_model("rf", n_classes=data.n_classes, input_shape=data.input_shape, params=RF, seed=seed)
        model.fit(data.x_train[subset.indices], subset.labels)
        evaluate(data.y_test, model.predict_proba(data.x_test), n_classes=data.n_classes)
    return time.perf_counter() - start


def script() -> float:
    """The plain loop as a script: a fresh interpreter (`bench_api.py --plain`); wall seconds."""
    start = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--plain"], check=True)
    return time.perf_counter() - start


def swept(storage: str, name: str, *, report: bool) -> float:
    """The same two trials through datavsmath.sweep; returns the wall seconds."""
    import datavsmath as dvm

    start = time.perf_counter()
    res = dvm.sweep("fashion_mnist", models=["rf"], sample_frac=SAMPLE_FRAC, seeds=len(SEEDS),
                    overrides={"rf": RF}, storage=storage, name=name, report=report, live=False, verbose=0,
                    download=False)
    seconds = time.perf_counter() - start
    assert (res.frame["status"] == "TERMINATED").sum() == len(SEEDS), res.frame
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--back-to-back", action="store_true", help="do not wait for a quiet machine")
    parser.add_argument("--plain", action="store_true", help="run the plain loop once and exit (the script)")
    args = parser.parse_args()
    if args.plain:
        plain()
        return 0
    import datavsmath as dvm

    waited = 0.0

    def quiet() -> None:
        nonlocal waited
        if args.back_to_back:
            return
        start = time.perf_counter()
        U.wait_quiet(threshold=0.2, max_wait=60.0)
        waited += time.perf_counter() - start

    with tempfile.TemporaryDirectory() as storage:
        quiet()
        first_script = script()
        quiet()
        first_sweep = swept(storage, "first", report=args.report)
        later, scripts, warm = [], [], []
        for i in range(args.rounds):
            quiet()
            later.append(swept(storage, f"later{i}", report=args.report))
            quiet()
            scripts.append(script())
            quiet()
            warm.append(plain())
        dvm.shutdown()
    print(f"waited for a quiet machine: {waited:.1f} s in all")
    print(f"first call:  sweep {first_sweep:.2f} s, script {first_script:.2f} s, "
          f"ratio {first_sweep / first_script:.2f}")
    for label, values in (("later sweeps", later), ("scripts", scripts), ("warm loops", warm)):
        print(f"{label + ':':13s} " + " ".join(f"{v:.2f}" for v in values) + " s")
    ratio = statistics.median(s / p for s, p in zip(later, scripts))
    warm_ratio = statistics.median(s / p for s, p in zip(later, warm))
    print(f"later call:  sweep {statistics.median(later):.2f} s, script {statistics.median(scripts):.2f} s "
          f"(medians), ratio {ratio:.2f} (median of the rounds' ratios; goal <= 1.5); against the warm loop "
          f"in this process ({statistics.median(warm):.2f} s) {warm_ratio:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

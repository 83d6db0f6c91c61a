"""Run `datavsmath ARGS...` in this process with timers wrapped around its phases (no package edit).

    python benchmarks/_cli_timer.py OUT.json -- sweep SPEC --storage DIR ...

Used by bench_scale.py and bench_learning_curve.py --fixed-cost. The wrappers only time calls
(functions are looked up by name; one that does not exist is skipped and listed under
"missing"); the command runs as `datavsmath` runs it (datavsmath.cli.main, ended as datavsmath.cli.console
ends it). OUT.json gets, in
seconds since this process started (`t0`, time.time()):
  phases: [{name, start, end}] for import datavsmath.cli, import ray, ray.init, data read (thread),
          the experiment's first files, Tuner setup, tuner.fit, results read / each result file
          written, report, ray.shutdown;
  state_saves: [[start, seconds, bytes]] of every TuneController.save_to_dir (Tune's experiment
          state, experiment_state-*.json);
  steps: TuneController.step calls and their summed seconds;
  profile, profile_self: inclusive and self (innermost frame) sample counts per function of the
          driver's main thread during tuner.fit (sampled every 20 ms), the top 60 and 30;
  maxrss_mb: the driver's peak RSS; rc: main()'s return value; end: when main() returned (what
          follows is Ray's atexit work and interpreter exit, timed by the caller).
"""

from __future__ import annotations

import collections
import functools
import json
import os
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

T0 = time.time()
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

REC: dict[str, Any] = {"t0": T0, "phases": [], "state_saves": [], "steps": [0, 0.0], "missing": [],
                       "profile": {}, "fit_samples": 0}
_lock = threading.Lock()


def now() -> float:
    return time.time() - T0


def phase(name: str, start: float, end: float) -> None:
    with _lock:
        REC["phases"].append({"name": name, "start": start, "end": end})


def wrap(owner: Any, attr: str, name: str, *, after: Any = None) -> None:
    """Time owner.attr as phase `name`; `after(result)` runs on its result."""
    fn = getattr(owner, attr, None)
    if fn is None:
        REC["missing"].append(f"{getattr(owner, '__name__', owner)}.{attr}")
        return

    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = now()
        try:
            result = fn(*args, **kwargs)
        finally:
            phase(name, start, now())
        if after is not None:
            after(result)
        return result

    setattr(owner, attr, timed)


class Sampler(threading.Thread):
    """Inclusive per-function sample counts of the main thread's stack, every `period` s."""

    def __init__(self, period: float = 0.02) -> None:
        super().__init__(daemon=True, name="cli-timer-sampler")
        self.period, self.counts, self.leaf, self.n = period, collections.Counter(), collections.Counter(), 0
        self.stop = threading.Event()
        self.main_id = threading.main_thread().ident

    def run(self) -> None:
        while not self.stop.wait(self.period):
            frame = sys._current_frames().get(self.main_id)
            seen: set[str] = set()
            leaf = None
            while frame is not None:
                code = frame.f_code
                path = code.co_filename
                short = "/".join(path.split("/")[-3:]) if "site-packages" in path else os.path.relpath(path, ROOT)
                name = f"{code.co_name} ({short}:{code.co_firstlineno})"
                leaf = leaf or name
                seen.add(name)
                frame = frame.f_back
            self.counts.update(seen)
            if leaf:
                self.leaf[leaf] += 1
            self.n += 1


def install() -> None:
    import datavsmath.analysis.load as results_mod
    import datavsmath.cli as cli
    import datavsmath.sweeps.ray_session as ray_session
    import datavsmath.sweeps.runner as runner

    def wrap_ray(_: Any) -> None:
        import ray
        from ray.tune.execution import tune_controller as tc

        if not getattr(ray.shutdown, "_timed", False):
            wrap(ray, "shutdown", "ray.shutdown")
            ray.shutdown._timed = True  # type: ignore[attr-defined]
            save = tc.TuneController.save_to_dir

            def save_to_dir(self: Any) -> Any:
                start = time.perf_counter()
                t = now()
                out = save(self)
                size = 0
                try:
                    path = Path(self._storage.experiment_driver_staging_path, self.experiment_state_file_name)
                    size = path.stat().st_size
                except (OSError, AttributeError):
                    pass
                with _lock:
                    REC["state_saves"].append([t, time.perf_counter() - start, size])
                return out

            tc.TuneController.save_to_dir = save_to_dir
            step = tc.TuneController.step

            def timed_step(self: Any) -> Any:
                start = time.perf_counter()
                try:
                    return step(self)
                finally:
                    REC["steps"][0] += 1
                    REC["steps"][1] += time.perf_counter() - start

            tc.TuneController.step = timed_step

    init = ray_session._init_ray

    def init_ray(options: Any) -> Any:
        start = now()
        import ray  # noqa: F401
        import ray.tune  # noqa: F401
        phase("import ray + ray.tune", start, now())
        wrap_ray(None)
        start = now()
        try:
            return init(options)
        finally:
            phase("ray.init", start, now())

    ray_session._init_ray = init_ray
    wrap(runner, "_import_and_read", "data read (thread: trainable import + IDX)")
    wrap(runner, "cluster_nodes", "nodes + plan")
    wrap(runner, "start_experiment", "experiment's first files")

    def tuner_made(tuner: Any) -> None:
        fit = tuner.fit

        def timed_fit(*args: Any, **kwargs: Any) -> Any:
            sampler = Sampler()
            sampler.start()
            start = now()
            try:
                return fit(*args, **kwargs)
            finally:
                phase("tuner.fit", start, now())
                sampler.stop.set()
                REC["fit_samples"] = sampler.n
                REC["profile"] = dict(sampler.counts.most_common(60))
                REC["profile_self"] = dict(sampler.leaf.most_common(30))

        tuner.fit = timed_fit

    wrap(runner, "make_tuner", "Tuner setup", after=tuner_made)
    wrap(results_mod, "results_from_experiment", "read the experiment (results_from_experiment)")
    real_storage = results_mod.storage

    class _Storage:  # analysis.load sees this in place of trainables.storage: atomic_write timed
        def __getattr__(self, name: str) -> Any:
            return getattr(real_storage, name)

        @staticmethod
        def atomic_write(path: str, write: Any) -> Any:
            start = now()
            try:
                return real_storage.atomic_write(path, write)
            finally:
                phase(f"write {os.path.basename(str(path))}", start, now())

    results_mod.storage = _Storage()  # type: ignore[assignment]
    wrap(cli, "write_result_files", "result files (read + write)")
    wrap(cli, "_write_report", "report")


USAGE = "usage: python benchmarks/_cli_timer.py OUT.json -- DATAVSMATH_ARGS..."


def main() -> int:
    if len(sys.argv) < 3 or sys.argv[2] != "--":
        print(USAGE, file=sys.stderr)
        return 2
    out, argv = sys.argv[1], sys.argv[3:]
    start = now()
    import datavsmath.cli as cli
    phase("import datavsmath.cli", start, now())
    install()

    def record(rc: int) -> None:
        REC["end"] = now()
        REC["rc"] = rc
        REC["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        Path(out).write_text(json.dumps(REC))

    # As the console script ends a sweep on an embedded Ray (datavsmath.cli.console), where the
    # package has that ending; else main() returns after ray.shutdown.
    fast_exit = getattr(cli, "exit_without_teardown", None)

    def exit_now(rc: int) -> Any:
        record(rc)
        assert fast_exit is not None
        fast_exit(rc)

    rc = 1
    try:
        rc = cli.main(argv, exit_now=exit_now) if fast_exit is not None else cli.main(argv)
    finally:
        record(rc)
    return rc


if __name__ == "__main__":
    sys.exit(main())

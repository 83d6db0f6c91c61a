"""The live report: report.html rewritten while a sweep runs, so a person can watch the curves.

`LiveReport` is the hook the CLI hands to the runner (datavsmath.sweeps.runner.run_sweep's
`on_finished`): after a trial finishes it rewrites the report once at least `every_n`
trials finished and `every_s` seconds passed since the last rewrite, whichever comes later.
The rewrite runs in a background thread, so Tune's loop never waits for it, and a rewrite
still running makes the next one wait; the page says "live: k of n trials finished" and
reloads itself while the driver's heartbeat (report_live.js, rewritten every HEARTBEAT_S
seconds by a thread of the driver) is fresh: a killed driver stops the reloading. The final
report, written by the CLI after the sweep, replaces it, and the heartbeat file is removed.
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

# Defaults chosen so that rewriting costs well under 2 % of a sweep on 2 cores: a rewrite of
# the laptop report takes ~2 s of one core (benchmarks/README.md, "live report").
EVERY_S = 60.0
EVERY_FRACTION = 0.1  # of the trials
LIVE_N_BOOT = 50  # draws of the crossings' intervals while live (final: 200)
HEARTBEAT_S = 10.0  # the page's reload period is 30 s; it stops after 3 without a heartbeat


def _import_report() -> None:
    """Load datavsmath.analysis.report (plotly, scipy: ~0.7 s) in a background thread while trials run,
    not before the sweep's first trial (importing this module stays cheap) nor after its
    last (the final report finds it loaded)."""
    import datavsmath.analysis.report  # noqa: F401


@dataclass
class LiveReport:
    """Rewrites `exp_dir`'s report.html during the sweep; see the module docstring.

    every_s: seconds between rewrites at least (default 60); every_n: finished trials between
    rewrites at least (default: a tenth of the sweep, at least 1). Picklable (Tune keeps its
    callbacks in tuner.pkl): the running thread is not part of its state.
    """

    exp_dir: str
    every_s: float = EVERY_S
    every_n: int | None = None
    rewrites: int = 0
    seconds: float = 0.0  # spent rewriting, in the background thread (wall)
    cpu_seconds: float = 0.0  # the same thread's CPU time: what the rewrites took from the trials
    _last_n: int = 0
    _last_t: float = field(default_factory=time.monotonic)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _heart: threading.Thread | None = field(default=None, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _closed: bool = False

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_thread"] = state["_heart"] = None
        state["_stop"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._stop = threading.Event()
        self._last_t = time.monotonic()  # a restored sweep counts its seconds afresh

    def _beat(self) -> None:
        """Rewrite the heartbeat every HEARTBEAT_S seconds until close()."""
        from datavsmath.analysis.page import heartbeat_path, heartbeat_script  # see _import_report
        from datavsmath.analysis.report import default_out
        from datavsmath.trainables import storage

        path = heartbeat_path(default_out(self.exp_dir))
        while not self._stop.is_set():
            try:
                storage.write_text(path, heartbeat_script(time.time()))
            except Exception as exc:  # a live view must never stop the sweep it shows
                warnings.warn(f"live report heartbeat not written: {exc}", RuntimeWarning, stacklevel=1)
                return
            self._stop.wait(HEARTBEAT_S)

    def due(self, finished: int, total: int, *, now: float) -> bool:
        """Whether a rewrite is due after `finished` of `total` trials."""
        every_n = self.every_n or max(1, math.ceil(total * EVERY_FRACTION))
        return (not self._closed and finished < total and finished - self._last_n >= every_n
                and now - self._last_t >= self.every_s and not (self._thread is not None and self._thread.is_alive()))

    def __call__(self, finished: int, total: int) -> None:
        now = time.monotonic()
        if not self.due(finished, total, now=now):
            if self._thread is None:  # the first trial finished: the report's modules load meanwhile
                self._thread = threading.Thread(target=_import_report, name="datavsmath-report-import", daemon=True)
                self._thread.start()
            return
        self._last_n, self._last_t = finished, now
        if self._heart is None:
            self._heart = threading.Thread(target=self._beat, name="datavsmath-live-heartbeat", daemon=True)
            self._heart.start()
        self._thread = threading.Thread(target=self._rewrite, args=(finished, total), name="datavsmath-live-report",
                                        daemon=True)
        self._thread.start()

    def _rewrite(self, finished: int, total: int) -> None:
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            from datavsmath.analysis.page import Live
            from datavsmath.analysis.report import write_report  # see _import_report

            write_report(self.exp_dir, live=Live(finished=finished, total=total), n_boot=LIVE_N_BOOT)
        except Exception as exc:  # a live view must never stop the sweep it shows
            warnings.warn(f"live report not rewritten: {type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=1)
        self.rewrites += 1
        self.seconds += time.perf_counter() - start
        self.cpu_seconds += time.thread_time() - cpu

    def wait(self, timeout: float = 60.0) -> None:
        """Let a rewrite in progress finish (before the final report replaces it)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self) -> None:
        """The sweep ended: no more rewrites; a rewrite in progress finishes first."""
        self._closed = True
        self.wait()
        self._stop.set()
        if self._heart is not None:
            self._heart.join(HEARTBEAT_S)
            from datavsmath.analysis.page import heartbeat_path
            from datavsmath.analysis.report import default_out
            from datavsmath.trainables import storage

            try:
                storage.delete_file(heartbeat_path(default_out(self.exp_dir)))
            except OSError as exc:  # a live view must never stop the sweep it shows
                warnings.warn(f"live report heartbeat not removed: {exc}", RuntimeWarning, stacklevel=1)

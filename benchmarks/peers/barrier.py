"""Tiny helpers shared by every benchmark worker (no third-party imports: the Keras peer runs
in its own venv). A worker trains, calls ``Barrier.after_warmup()`` once its first epoch is
done, records ``(start, end)`` wall-clock times per epoch, and prints one JSON line."""

from __future__ import annotations

import argparse
import json
import os
import time

RESULT_PREFIX = "BENCH_JSON "


def add_barrier_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ready", default=None, help="file to touch after the warm-up epoch")
    parser.add_argument("--go", default=None, help="file to wait for before the next epochs")


def cpu_seconds() -> float:
    """CPU seconds of this process, all threads (CLOCK_PROCESS_CPUTIME_ID)."""
    return time.process_time()


class Barrier:
    def __init__(self, ready: str | None, go: str | None) -> None:
        self.ready, self.go = ready, go
        self.cpu_at_go = cpu_seconds()
        self.released = False

    def after_warmup(self) -> None:
        """Signal readiness and block until released (no-op without --ready/--go)."""
        if self.released:
            return
        self.released = True
        if self.ready:
            open(self.ready, "w").close()
        if self.go:
            while not os.path.exists(self.go):
                time.sleep(0.005)
        self.cpu_at_go = cpu_seconds()


class EpochClock:
    """Per epoch: (wall start, wall end, CPU seconds of this process during the epoch).

    The warm-up barrier sits between epochs 1 and 2. CPU seconds let a single-threaded run be
    judged even when other processes share the cores (its CPU time barely depends on them).
    """

    def __init__(self, barrier: Barrier) -> None:
        self.barrier = barrier
        self.epochs: list[tuple[float, float, float]] = []
        self._start, self._cpu = time.time(), cpu_seconds()

    def begin(self) -> None:
        self._start, self._cpu = time.time(), cpu_seconds()

    def end(self) -> None:
        self.epochs.append((self._start, time.time(), cpu_seconds() - self._cpu))
        if len(self.epochs) == 1:
            self.barrier.after_warmup()
        self._start, self._cpu = time.time(), cpu_seconds()


def emit(result: dict, barrier: Barrier) -> None:
    result["cpu_after_go"] = cpu_seconds() - barrier.cpu_at_go
    print(RESULT_PREFIX + json.dumps(result), flush=True)

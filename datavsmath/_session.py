"""The process a sweep runs in: Ray kept up between calls, and everything else left as it was.

`ray_stack(options, py_modules)` keeps the embedded Ray (or the connection to `address=`) that
the first call starts for the next ones with the same settings, and `keep_warm` has its
workers started before the next call needs them; `shutdown()` stops it, and so does the
interpreter's exit. `preserved()` puts back, when a call ends however it ends,
what running a sweep changes in the process: os.environ, the SIGINT / SIGTERM / SIGUSR1
handlers, sys.path, warnings.filters (Ray and its dependencies add theirs on import) and the
levels of the loggers that existed before. `shutdown()` leaves the threads as they were before
the first call (it waits for those Ray's shutdown stops). Modules a sweep imports
stay imported (ray, the trainable, ...); none that was there is removed or replaced.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from datavsmath.sweeps.options import SweepOptions

THREADS_WAIT_S = 5.0  # shutdown() waits this long at most for the threads Ray leaves to end
SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGUSR1") if hasattr(signal, name))


@dataclass(frozen=True)
class _Key:
    """The settings Ray is started with: a call with other settings restarts it."""

    address: str
    py_modules: tuple[str, ...]
    dashboard: bool
    log_to_driver: bool


class _Session:
    """The stack that keeps the Ray of datavsmath.sweep up (the runner enters its Ray session
    into it) and the settings it was started with."""

    def __init__(self) -> None:
        self.stack: ExitStack | None = None
        self.key: _Key | None = None
        self.threads: set[int] | None = None  # the threads before Ray started

    def close(self) -> None:
        stack, self.stack, self.key = self.stack, None, None
        threads, self.threads = self.threads, None
        if stack is not None:
            with preserved():  # Ray's shutdown may import and add warnings filters
                stack.close()
        if threads is not None:  # Ray's threads (log and error listeners, ...) end after its shutdown
            deadline = time.monotonic() + THREADS_WAIT_S
            for thread in threading.enumerate():
                if thread.ident not in threads and thread is not threading.current_thread():
                    thread.join(timeout=max(deadline - time.monotonic(), 0.0))


_SESSION = _Session()
atexit.register(_SESSION.close)


def ray_stack(options: SweepOptions, *, py_modules: tuple[str, ...] = ()) -> ExitStack:
    """The stack to pass to the runner as `ray_alive`: Ray started into it stays up after the
    call, for the next ones with the same settings; a call with other settings (address,
    py_modules, dashboard, -v 2's worker logs) stops it first. A Ray the caller started
    (ray.init) is used as it is and never stopped here."""
    key = _Key(address=options.address or "local", py_modules=tuple(py_modules), dashboard=options.dashboard,
               log_to_driver=options.verbose > 1)
    if _SESSION.key != key:
        _SESSION.close()
    if _SESSION.stack is None:
        _SESSION.stack, _SESSION.key = ExitStack(), key
        _SESSION.threads = {t.ident for t in threading.enumerate() if t.ident is not None}
    return _SESSION.stack


def keep_warm(*, options: SweepOptions, trials: int) -> bool:
    """After a call, start the workers the next call's trials will take (at most `trials`,
    the most that ran at once), so it pays no process start or imports; they start in the
    background while the caller reads the results. An embedded Ray without py_modules only,
    whose workers preload the trial's imports (datavsmath.sweeps.ray_session.prestart_workers).
    Returns whether the raylet took the request."""
    if not options.embedded or _SESSION.stack is None or _SESSION.key is None or _SESSION.key.py_modules:
        return False
    from datavsmath.sweeps.ray_session import prestart_workers

    return prestart_workers(trials)


def shutdown() -> None:
    """Stop the Ray that `datavsmath.sweep` started, and its waiting workers.

    Nothing happens when there is none; the interpreter's exit stops it too.

    Returns
    -------
    None

    Examples
    --------
    >>> import datavsmath as dvm
    >>> dvm.shutdown()
    """
    _SESSION.close()


def _logger_levels() -> dict[str, int]:
    manager = logging.Logger.manager
    levels = {name: logger.level for name, logger in manager.loggerDict.items() if isinstance(logger, logging.Logger)}
    levels[""] = logging.getLogger().level
    return levels


def _restore_levels(levels: dict[str, int]) -> None:
    for name, level in levels.items():
        logger = logging.getLogger(name) if name else logging.getLogger()
        if logger.level != level:
            logger.setLevel(level)


def _restore_environ(before: dict[str, str]) -> None:
    for key in [k for k in os.environ if k not in before]:
        del os.environ[key]
    for key, value in before.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


@contextmanager
def preserved() -> Iterator[None]:
    """Inside the block a sweep may change the process; when it ends, os.environ, the signal
    handlers (main thread), sys.path, warnings.filters and the existing loggers' levels are as
    before."""
    environ = dict(os.environ)
    filters = list(warnings.filters)
    path = list(sys.path)
    levels = _logger_levels()
    main = threading.current_thread() is threading.main_thread()
    handlers: dict[int, Any] = {s: signal.getsignal(s) for s in SIGNALS} if main else {}
    try:
        yield
    finally:
        _restore_environ(environ)
        sys.path[:] = path
        if warnings.filters != filters:
            warnings.filters[:] = filters  # type: ignore[index]  # a list at run time, a Sequence in typeshed
            warnings._filters_mutated()  # type: ignore[attr-defined]  # the registries' caches
        _restore_levels(levels)
        for signum, handler in handlers.items():
            if signal.getsignal(signum) is not handler and handler is not None:
                signal.signal(signum, handler)

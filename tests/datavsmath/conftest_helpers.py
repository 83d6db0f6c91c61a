"""What a sweep may not change in the process, captured before and compared after."""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any

# What Ray's native core keeps for the life of the process once it started (its grpc event
# loops and sockets, its core worker's log files): reused by the next start, never more.
RAY_NATIVE_FD = re.compile(r"anon_inode:\[(eventpoll|eventfd|timerfd)\]|socket:\[\d+\]|.*/session_[^/]+/logs/.*")


def open_fds() -> dict[int, str]:
    """fd -> what it points at, of this process."""
    out = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            out[int(fd)] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the listing's own fd, closed meanwhile
            continue
    return out


@dataclass
class ProcessState:
    environ: dict[str, str]
    handlers: dict[int, Any]
    path: list[str]
    modules: dict[str, int]
    levels: dict[str, int]
    filters: list[Any] = field(default_factory=list)
    threads: dict[int, str] = field(default_factory=dict)
    fds: dict[int, str] = field(default_factory=dict)

    @classmethod
    def now(cls) -> ProcessState:
        loggers = logging.Logger.manager.loggerDict
        return cls(environ=dict(os.environ),
                   handlers={s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)},
                   path=list(sys.path), modules={name: id(m) for name, m in list(sys.modules.items())},
                   levels={n: lg.level for n, lg in list(loggers.items()) if isinstance(lg, logging.Logger)},
                   filters=list(warnings.filters), threads={t.ident or 0: t.name for t in threading.enumerate()},
                   fds=open_fds())

    def problems(self) -> list[str]:
        """What differs now: every changed env var, handler, path entry, removed or replaced
        module and logger level (modules may be added)."""
        after = ProcessState.now()
        out = [f"env {k}: {self.environ.get(k)!r} -> {after.environ.get(k)!r}"
               for k in sorted(set(self.environ) | set(after.environ)) if self.environ.get(k) != after.environ.get(k)]
        out += [f"handler {s}: {h!r} -> {after.handlers[s]!r}" for s, h in self.handlers.items() if after.handlers[s] != h]
        out += [f"sys.path {self.path} -> {after.path}"] if after.path != self.path else []
        out += [f"module {m} removed or replaced" for m, i in self.modules.items() if after.modules.get(m) != i]
        out += [f"logger {n}: {lvl} -> {after.levels.get(n)}" for n, lvl in self.levels.items()
                if after.levels.get(n) != lvl]
        out += [f"warnings.filters: {len(self.filters)} -> {len(after.filters)} entries, e.g. "
                f"{next((f for f in after.filters if f not in self.filters), None)}"] if after.filters != self.filters else []
        return out

    def left_after_shutdown(self) -> list[str]:
        """What datavsmath.shutdown() did not put back: problems(), the threads started since
        and the fds opened since, but those Ray's native core keeps (RAY_NATIVE_FD)."""
        after = ProcessState.now()
        out = [p for p in self.problems() if not p.startswith("env PYTEST_CURRENT_TEST:")]  # pytest's own
        out += [f"thread {name}" for ident, name in after.threads.items() if ident not in self.threads]
        out += [f"fd {fd} -> {target}" for fd, target in after.fds.items()
                if self.fds.get(fd) != target and not RAY_NATIVE_FD.fullmatch(target)]
        return out

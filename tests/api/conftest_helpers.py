"""What a sweep may not change in the process, captured before and compared after."""

from __future__ import annotations

import logging
import os
import signal
import sys
from dataclasses import dataclass
from typing import Any


@dataclass
class ProcessState:
    environ: dict[str, str]
    handlers: dict[int, Any]
    path: list[str]
    modules: dict[str, int]
    levels: dict[str, int]

    @classmethod
    def now(cls) -> ProcessState:
        loggers = logging.Logger.manager.loggerDict
        return cls(environ=dict(os.environ),
                   handlers={s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)},
                   path=list(sys.path), modules={name: id(m) for name, m in list(sys.modules.items())},
                   levels={n: lg.level for n, lg in list(loggers.items()) if isinstance(lg, logging.Logger)})

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
        return out

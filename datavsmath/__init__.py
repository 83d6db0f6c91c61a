"""datavsmath: more data, a better model, or cleaner labels? Ray Tune sweeps that answer it.

The Python API (`import datavsmath as dvm`):

- `sweep(data, label=..., models=..., sample_frac=..., damage_frac=..., damage_mode=...,
  repair=..., seeds=..., ...) -> Results`: run a sweep (every spec key and CLI option is a
  keyword), persisted in ./results/<name> as the CLI persists it;
- `plan(data, ...) -> Plan`: what `sweep` would run with the same arguments, without running
  it: its text (the CLI's --dry-run), cells and estimated compute;
- `load(path) -> Results`: any experiment, CLI-made ones too;
- `Results`: `.frame`, `.table()`, `.decision()`, `.figures()`, `.report()`, `.errors`;
- `net(factory, epochs=..., ...)`: a torch factory with its training settings, for `models=`;
- `shutdown()`: stop the Ray that `sweep` started (interpreter exit stops it too);
- errors, each a `DatavsmathError`: `SpecError` (a ValueError: bad input, the CLI's
  messages), `SweepError` (a RuntimeError: a run that cannot go on, e.g. the experiment's lock
  held), `DatasetError`, `DataNotFoundError` (a FileNotFoundError), `TrialsError`
  (raise_on_error=True).

Its names load on first use, so that a Ray worker importing `datavsmath.trainables` pays for
nothing else (no pandas, plotly or sweeps).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# public name -> the module that defines it
_EXPORTS = {
    "sweep": "datavsmath._sweeping",
    "plan": "datavsmath._sweeping",
    "Plan": "datavsmath._plan",
    "load": "datavsmath._results",
    "Results": "datavsmath._results",
    "TrialsError": "datavsmath._results",
    "net": "datavsmath._inputs",
    "shutdown": "datavsmath._session",
    "DatavsmathError": "datavsmath.trainables.checks",
    "SpecError": "datavsmath.sweeps.spec",
    "SweepError": "datavsmath.sweeps.options",
    "DatasetError": "datavsmath.trainables.datasets.common",
    "DataNotFoundError": "datavsmath.trainables.datasets.common",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'datavsmath' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    # The public names and the module's dunders: not the helpers this file imports.
    return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})

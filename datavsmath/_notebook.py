"""Progress of a sweep in a notebook: one display, updated after each finished trial (in a
terminal the runner's compact lines serve instead)."""

from __future__ import annotations

import sys
import time
from typing import Any


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython's display reaches a notebook)."""
    if "ipykernel" not in sys.modules or "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class NotebookProgress:
    """Called as (finished, total) after each finished or errored trial: one display line,
    "name: 7 of 24 trials done, 12 s". Tune pickles it into tuner.pkl with its callbacks:
    the display handle stays out of the pickle."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._start = time.monotonic()
        self._handle: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self.name, "_handle": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Unpickled from tuner.pkl when a sweep resumes: its clock starts then (the monotonic
        # clock of another process, or 0.0, would count from the machine's boot).
        self.__dict__.update(state)
        self._start = time.monotonic()

    def text(self, finished: int, total: int) -> str:
        return f"datavsmath {self.name}: {finished} of {total} trials done, {time.monotonic() - self._start:.0f} s"

    def __call__(self, finished: int, total: int) -> None:
        from IPython.display import display

        shown = self.text(finished, total)
        if self._handle is None:
            self._handle = display({"text/plain": shown}, raw=True, display_id=True)
        else:
            self._handle.update({"text/plain": shown}, raw=True)

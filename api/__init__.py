"""datavsmath: more data, a better model, or cleaner labels? Ray Tune sweeps that answer it.

The Python API (`import datavsmath as dvm`). Its names load on first use, so that a Ray
worker importing `datavsmath.trainables` pays for nothing else.
"""

from __future__ import annotations

from typing import Any

__all__: list[str] = []


def __getattr__(name: str) -> Any:
    raise AttributeError(f"module 'datavsmath' has no attribute {name!r}")

"""Test-only fault injection, parsed here without Ray so the driver can name it cheaply.

DATAVSMATH_FAULT="KEY=VALUE,...,epoch=E[,always]" makes the trial whose config matches every
KEY=VALUE raise at epoch E (0: before training), once, or on every attempt with `always`.
The trainable (trainables/trainable.py) raises; the runner passes the variable on to workers.
"""

from __future__ import annotations

from typing import Any

from datavsmath.trainables.checks import DatavsmathError

FAULT_ENV = "DATAVSMATH_FAULT"


class InjectedFault(DatavsmathError, RuntimeError):
    """Raised by the test-only fault injection."""


def fault_spec(config: dict[str, Any], raw: str) -> tuple[int, bool] | None:
    """(epoch, always) if the DATAVSMATH_FAULT value `raw` targets this trial's config, else None.

    Numbers match by value ("0.5" matches 0.5); an empty `raw` targets nothing. Defaults:
    epoch 1, always False.
    """
    if not raw:
        return None
    fields = dict(part.partition("=")[::2] if "=" in part else (part, "1") for part in raw.split(","))
    epoch, always = int(fields.pop("epoch", 1)), fields.pop("always", None) is not None
    matches = all(str(config.get(k)) == v or _same_number(config.get(k), v) for k, v in fields.items())
    return (epoch, always) if matches else None


def _same_number(value: Any, text: str) -> bool:
    try:
        return float(value) == float(text)
    except (TypeError, ValueError):
        return False

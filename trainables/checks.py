"""One vocabulary for checking values, with one message style, in the way of scikit-learn's
`Interval`: ``damage_frac must be in [0, 1], got 1.3``.

Every range or choice check of the project (specs, damage, model parameters, CLI flags)
goes through these, so a message always names the field, what is allowed and what it got.
Errors are ValueError; callers that own a more specific error type wrap them.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# Echoed values are cut to this many characters, so a huge value never floods a terminal.
ECHO_LIMIT = 80


def echo(value: Any, *, limit: int = ECHO_LIMIT) -> str:
    """repr(value), cut to `limit` characters with "..." when longer."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class DatavsmathError(Exception):
    """The base of every error that datavsmath raises on purpose: ``except DatavsmathError``
    catches them all.

    Below it, bad input (a spec, an argument, a dataset: SpecError, DatasetError, ..., each
    also a ValueError) and a run that cannot go on (SweepError: the experiment's lock is held,
    no node fits a request, the cluster cannot be reached; also a RuntimeError) are apart.
    """


def check_keys(where: str, keys: Iterable[Any], allowed: Sequence[str], *, of: str = "",
               error: Callable[[str], Exception] = ValueError, list_allowed: bool = True) -> None:
    """Refuse the first of `keys` that is not in `allowed`, in one message style.

    Parameters
    ----------
    where : str
        The mapping's name in the message ("" for none), e.g. ``"report"``.
    keys : iterable
        The keys given, in the order in which the first unknown one is named.
    allowed : sequence of str
        The keys allowed, in the order the message lists them.
    of : str
        Text after the key, e.g. ``" for kind table"``.
    error : callable
        The exception type (called with the message) to raise.
    list_allowed : bool
        Whether the message lists the allowed keys.

    Raises
    ------
    error
        ``"WHERE: unknown key 'k'{of}; allowed: a, b"`` for the first unknown key.

    Examples
    --------
    >>> check_keys("report", ["colour"], ("current", "target"))
    Traceback (most recent call last):
    ValueError: report: unknown key 'colour'; allowed: current, target
    """
    unknown = [key for key in keys if key not in allowed]
    if unknown:
        prefix = f"{where}: " if where else ""
        listed = f"; allowed: {', '.join(allowed)}" if list_allowed else ""
        raise error(f"{prefix}unknown key {echo(unknown[0])}{of}{listed}")


def is_number(value: Any) -> bool:
    """A finite int or float that is not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_integer(value: Any) -> bool:
    """An int that is not a bool (numpy integers included)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclass(frozen=True)
class Interval:
    """A range of numbers: [low, high], with each end closed or open; None is unbounded.

    >>> Interval(0, 1, closed="right")      # (0, 1]
    """

    low: float | None
    high: float | None
    closed: str = "both"  # "both", "left", "right" or "neither"

    def __contains__(self, value: float) -> bool:
        low_ok = self.low is None or (value >= self.low if self.closed in ("both", "left") else value > self.low)
        high_ok = self.high is None or (value <= self.high if self.closed in ("both", "right") else value < self.high)
        return bool(low_ok and high_ok)

    def __str__(self) -> str:
        left = "[" if self.closed in ("both", "left") and self.low is not None else "("
        right = "]" if self.closed in ("both", "right") and self.high is not None else ")"
        low = "-inf" if self.low is None else _number_text(self.low)
        high = "inf" if self.high is None else _number_text(self.high)
        return f"{left}{low}, {high}{right}"


def _number_text(value: float) -> str:
    """Whole numbers in full up to 2^63 (4294967295, not 4.29497e+09), others as %g (1e+308,
    not its 309 digits)."""
    return str(int(value)) if float(value).is_integer() and abs(value) <= 2**63 else f"{value:g}"


UNIT = Interval(0, 1)                                   # [0, 1]
UNIT_OPEN_LEFT = Interval(0, 1, closed="right")         # (0, 1]
UNIT_OPEN_RIGHT = Interval(0, 1, closed="left")         # [0, 1)
UNIT_OPEN = Interval(0, 1, closed="neither")            # (0, 1)
POSITIVE = Interval(0, None, closed="neither")          # (0, inf)
NON_NEGATIVE = Interval(0, None, closed="left")         # [0, inf)
AT_LEAST_ONE = Interval(1, None, closed="left")         # [1, inf)
# Prices (of a label, an audit, a compute second, a training) are at most MAX_PRICE, so that a
# cost, a price times up to millions of labels, stays a finite number.
MAX_PRICE = 1e12
PRICE = Interval(0, MAX_PRICE)                          # [0, 1e12]
POSITIVE_PRICE = Interval(0, MAX_PRICE, closed="right")  # (0, 1e12]


def check_number(name: str, value: Any, interval: Interval) -> float:
    """`value` as a float if it is a finite number in `interval`; else ValueError
    "NAME must be a number in I, got V" or "NAME must be in I, got V"."""
    if not is_number(value):
        raise ValueError(f"{name} must be a number in {interval}, got {echo(value)}")
    if value not in interval:
        raise ValueError(f"{name} must be in {interval}, got {_number_text(value)}")
    return float(value)


def check_int(name: str, value: Any, interval: Interval) -> int:
    """`value` as an int if it is an integer (not a bool) in `interval`; else ValueError."""
    if not is_integer(value):
        raise ValueError(f"{name} must be an integer in {interval}, got {echo(value)}")
    if value not in interval:
        raise ValueError(f"{name} must be in {interval}, got {value}")
    return int(value)


def check_choice(name: str, value: Any, choices: Collection[Any]) -> Any:
    """`value` if it is one of `choices`; else ValueError "NAME must be one of [...], got V"."""
    try:
        ok = value in choices
    except TypeError:  # an unhashable value (a list or a mapping) is never a choice
        ok = False
    if not ok:
        raise ValueError(f"{name} must be one of {list(choices)}, got {echo(value)}")
    return value

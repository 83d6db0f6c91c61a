"""Which torch device a trial trains on, decided from what Ray gave it (pure: no ray, no torch).

The caller passes in ``ray.get_gpu_ids()`` and ``torch.cuda.is_available()`` etc., which keeps
this testable without GPUs.
"""

from __future__ import annotations

import math
from typing import Sequence


def pick_device(gpu_ids: Sequence, *, cuda_available: bool, mps_requested: bool = False,
                mps_available: bool = False) -> tuple[str, str | None]:
    """(device, warning): "cuda" | "mps" | "cpu", and a message to log when the choice is a fallback.

    gpu_ids: GPU ids Ray assigned to the trial (empty when it asked for none).
    "cuda" when gpu_ids is non-empty and CUDA is available; "mps" only when requested and
    available; otherwise "cpu". warning is None unless something asked for was not found
    (GPU ids without CUDA, or MPS requested but unavailable).
    """
    gpu_ids = list(gpu_ids)
    if gpu_ids and cuda_available:
        return "cuda", None
    warnings = []
    if gpu_ids:
        warnings.append(f"the trial was given GPU ids {gpu_ids} but found no CUDA")
    if mps_requested and mps_available:
        return "mps", (warnings[0] + "; using mps") if warnings else None
    if mps_requested:
        warnings.append("mps was requested but is not available")
    return "cpu", ("; ".join(warnings) + "; training on cpu") if warnings else None


def gpu_memory_fraction(gpu_share: float) -> float:
    """Fraction of a GPU's memory a trial may use, for torch.cuda.set_per_process_memory_fraction.

    gpu_share: the trial's GPU request (e.g. 0.25 when four trials share a GPU); > 0. Values
    above 1 (several GPUs) are clamped to 1.0, so the result is in (0, 1].
    """
    if isinstance(gpu_share, bool) or not isinstance(gpu_share, (int, float)) \
            or not math.isfinite(gpu_share) or gpu_share <= 0:
        raise ValueError(f"gpu_share: expected a finite number > 0; got {gpu_share!r}")
    return min(float(gpu_share), 1.0)

"""Which torch device a trial trains on, decided from what Ray gave it (pure: no ray, no torch).

The caller passes in ``ray.get_gpu_ids()`` and ``torch.cuda.is_available()``, which keeps
this testable without GPUs.
"""

from __future__ import annotations

from collections.abc import Sequence

from datavsmath.trainables.checks import POSITIVE, check_number


def pick_device(gpu_ids: Sequence, *, cuda_available: bool) -> tuple[str, str | None]:
    """(device, warning): "cuda" or "cpu", and a message to log when the choice is a fallback.

    gpu_ids: GPU ids Ray assigned to the trial (empty when it asked for none). CPU-only
    trials see every GPU in Ray, so CUDA being available is not enough: "cuda" only when
    gpu_ids is non-empty and CUDA is available. warning is None unless GPU ids were given
    but CUDA was not found.
    """
    gpu_ids = list(gpu_ids)
    if gpu_ids and cuda_available:
        return "cuda", None
    if gpu_ids:
        return "cpu", f"the trial was given GPU ids {gpu_ids} but found no CUDA; training on cpu"
    return "cpu", None


def gpu_memory_fraction(gpu_share: float) -> float:
    """Fraction of a GPU's memory a trial may use, for torch.cuda.set_per_process_memory_fraction.

    gpu_share: the trial's GPU request (e.g. 0.25 when four trials share a GPU); > 0. Values
    above 1 (several GPUs) are clamped to 1.0, so the result is in (0, 1].
    """
    return min(check_number("gpu_share", gpu_share, POSITIVE), 1.0)

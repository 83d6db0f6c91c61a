"""datavsmath.trainables.device: the device rule and the GPU memory cap, without GPUs."""

from __future__ import annotations

import pytest

from datavsmath.trainables.device import gpu_memory_fraction, pick_device


@pytest.mark.parametrize("gpu_ids, cuda, device, warns", [
    ([0], True, "cuda", None),
    ([], True, "cpu", None),          # a CPU-only trial sees every GPU: never take one
    ([], False, "cpu", None),
    ([0], False, "cpu", "given GPU ids [0] but found no CUDA"),
    ([1, 2], True, "cuda", None),
])
def test_pick_device(gpu_ids, cuda, device, warns):
    got, warning = pick_device(gpu_ids, cuda_available=cuda)
    assert got == device
    if warns is None:
        assert warning is None
    else:
        assert warns in warning


@pytest.mark.parametrize("share, fraction", [(0.25, 0.25), (1, 1.0), (2.0, 1.0), (1e-3, 1e-3)])
def test_gpu_memory_fraction_is_clamped(share, fraction):
    assert gpu_memory_fraction(share) == fraction


@pytest.mark.parametrize("share, match", [(0, r"gpu_share must be in \(0, inf\), got 0"),
                                          (-0.5, r"gpu_share must be in \(0, inf\), got -0.5"),
                                          (float("nan"), r"gpu_share must be a number in \(0, inf\), got nan"),
                                          ("half", r"gpu_share must be a number in \(0, inf\), got 'half'")])
def test_gpu_memory_fraction_rejects_non_positive(share, match):
    with pytest.raises(ValueError, match=match):
        gpu_memory_fraction(share)

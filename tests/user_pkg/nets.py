"""Torch module factories as a user writes them: make_net(input_shape, n_classes) -> nn.Module.

Batches arrive as (n, F) float32 for flat datasets and (n, C, H, W) for images."""

from __future__ import annotations

import math

from torch import nn


def make_net(input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    """A two-layer perceptron over the flattened input: F -> 64 relu -> n_classes logits."""
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), 64), nn.ReLU(), nn.Linear(64, n_classes))


def not_a_module(input_shape: tuple[int, ...], n_classes: int) -> str:
    """A factory that returns something else than a torch module."""
    return f"a net for {input_shape} and {n_classes} classes"


def wrong_width(input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    """A net with one logit too few."""
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), n_classes - 1))

"""make_net(input_shape, n_classes) -> nn.Module: a spec's `models: {NAME: {module: "mynets.nets:make_net"}}`.

The project's net trainer calls it once per trial (after seeding torch) and feeds it float32
batches: (n, F) for a table, (n, C, H, W) for images, pixels scaled to [0, 1]."""

from __future__ import annotations

import math

from torch import nn


def make_net(input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    """Flatten, 128 relu, dropout 0.2, n_classes logits: a small dense net for any input."""
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), 128), nn.ReLU(), nn.Dropout(0.2),
                         nn.Linear(128, n_classes))


def make_small_cnn(input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    """Two 3x3 conv blocks with 2x2 pooling, then n_classes logits; for images (H, W[, C])."""
    channels = input_shape[2] if len(input_shape) == 3 else 1
    height, width = input_shape[0] // 4, input_shape[1] // 4
    return nn.Sequential(nn.Conv2d(channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(32 * height * width, n_classes))

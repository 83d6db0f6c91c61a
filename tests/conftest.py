"""Shared fixtures: the real Fashion-MNIST, loaded once per test session."""

from __future__ import annotations

import pytest

from trainables.data import load_fashion_mnist


@pytest.fixture(scope="session")
def fashion():
    """The real dataset (found locally: Debian's package in CI); never downloaded in tests."""
    return load_fashion_mnist(download=False)

"""Fixtures shared by the unit tests that train models."""

from __future__ import annotations

import pytest
import torch

from toy_models.data import load_dataset


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread, as the app trains: timings and results do not depend on the core count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's digits as the trainer loads them by default (read-only: tests never write to it)."""
    return load_dataset("digits")

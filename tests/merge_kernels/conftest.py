"""merge_kernels tests run torch single-threaded: on a shared, oversubscribed machine two OpenMP
threads per op wait on each other for whole scheduler slices, and the results do not depend on it."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

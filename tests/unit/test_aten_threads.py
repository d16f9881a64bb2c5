"""Every RepOps ATen kernel gives the same bits with 1 and 2 threads (the native ops need not)."""

from __future__ import annotations

import pytest
import torch
from test_aten_kernels import CASES, _ids, run_case


def _bits(ts: list[torch.Tensor]) -> list[bytes]:
    return [t.contiguous().numpy().tobytes() for t in ts]


@pytest.fixture
def threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("i", range(len(CASES)), ids=_ids())
def test_same_bits_with_one_and_two_threads(threads, i):
    torch.set_num_threads(1)
    one = _bits(run_case(i))
    torch.set_num_threads(2)
    assert _bits(run_case(i)) == one

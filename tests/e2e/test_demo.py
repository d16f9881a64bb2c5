"""`agora devnet demo` runs from nothing to the end and its narration tells the story (issue 7, part 3/6)."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import agora

pytestmark = pytest.mark.e2e


def test_demo_narrates_payment_catch_slash_and_refund(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # 24 steps: the cheat at step 20 is not on the last step, and every party (worker, verifier, referee) trains
    # or replays less of the example CNN than the old 30.
    proc = agora(["devnet", "demo", "--steps", "24", "--fault-step", "20"], tmp_path / "devnet", timeout=600)
    out = proc.stdout
    print(out)
    # a user model: the example CNN; the cheater is caught at the graph node it perturbed, named
    assert "examples/digits-cnn" in out
    assert re.search(r"caught at step 20, node \d+ aten\.convolution_backward\.default", out), out
    assert re.search(r"held-out accuracy 0\.\d+", out), out
    assert "the honest provider was paid: worker-" in out
    assert "the cheater was slashed" in out and "refunded" in out
    assert re.search(r"worker-\d \(honest\) .* \+0\.00975 ETH", out), out  # price minus the 2.5 % fee
    assert "client paid -0.01 ETH in all" in out
    assert "tearing down" in out
    # The demo stopped what it started.
    assert "nothing to stop" in agora(["devnet", "down"], tmp_path / "devnet").stdout

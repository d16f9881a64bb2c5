"""The issue's figure (issue 6, Done when): a 1,000-step job with a fault at step 700 goes from challenge to
slashing in ≤ 60 s of wall time, and the referee's compute is ≤ 0.1 % of the job's. Both are printed (figures, not
bounds: they depend on the machine's load); the test asserts the outcome, the step, and a one-op ruling."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import Devnet, small_spec

pytestmark = pytest.mark.e2e
FAULT_STEP = 700


@pytest.fixture(scope="module")
def dn(devnet_factory) -> Devnet:  # type: ignore[no-untyped-def]
    # The verifier re-runs all 1,000 steps before it can challenge: the window must outlast that on a busy laptop.
    return devnet_factory("--workers", "1", "--faulty-worker", f"perturb-step={FAULT_STEP}",
                          "--clock", "challenge-window=120", "--clock", "move-timeout=30")


def test_thousand_step_dispute_is_settled_within_a_minute_at_a_tiny_referee_cost(dn: Devnet) -> None:
    job_id = dn.submit(small_spec(steps=1000, seed=31, checkpoint_every=100))
    dn.wait_status(job_id, {"disputed", "finalized", "failed"}, timeout_s=300)
    d = dn.wait_settled(job_id, timeout_s=240)
    assert d["outcome"] == "challenger_wins", d["outcome"]

    opened = next(m for m in d["moves"] if "Opened" in m["kind"])
    settled = next(m for m in d["moves"] if "Settled" in m["kind"])
    t_open = int(dn.ledger.w3.eth.get_block(opened["block_number"])["timestamp"])
    t_settle = int(dn.ledger.w3.eth.get_block(settled["block_number"])["timestamp"])
    wall = t_settle - t_open

    from eth_account import Account

    from chain.dispute_game import DisputeGame

    state = DisputeGame.connect(dn.ledger.deployment, dn.ledger.w3, Account.create().key.hex()).state(d["id"])
    job_compute = [float(x) for x in re.findall(r"trained steps 0\.\.1000 in [0-9.]+s wall, ([0-9.]+)s compute",
                                                 dn.log("worker-1"))]
    referee_compute = [float(x) for x in re.findall(r"ruled .* in ([0-9.]+)s compute", dn.log("referee"))]
    assert job_compute and referee_compute, "the worker or referee did not log its compute time"
    share = referee_compute[-1] / job_compute[-1]
    print(f"\nFIGURE challenge→slashing {wall}s wall ({len(d['moves'])} moves); caught at step {state.index} "
          f"op {state.hi}; referee compute {referee_compute[-1] * 1e3:.2f} ms = {share:.5%} of the job's "
          f"{job_compute[-1]:.2f}s")
    assert state.index == FAULT_STEP
    # The wall time and the compute share are figures (printed above; `agora bench dispute` measures them), not
    # pass/fail bounds: both move with how busy the machine is. What is structural, and asserted, is why the share
    # is tiny: the referee recomputed one op from a checked hand-over, it did not replay the step.
    rulings = re.findall(r"ruled .* from (.+?) in [0-9.]+s compute", dn.log("referee"))
    assert rulings and rulings[-1] == "hand-over", f"the referee did not rule from a hand-over: {rulings}"

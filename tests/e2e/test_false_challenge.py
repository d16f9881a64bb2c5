"""A verifier that challenges an honest result (issue 6, e2e (c)): the game convicts the challenger, its bond
goes to the provider (part to the treasury), the provider is paid and the client pays the price only."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Devnet, small_spec

pytestmark = pytest.mark.e2e
PRICE = 10**16


@pytest.fixture(scope="module")
def dn(devnet_factory) -> Devnet:  # type: ignore[no-untyped-def]
    return devnet_factory("--workers", "1", "--faulty-verifier", "false-challenge")


def test_false_challenger_loses_its_bond_and_the_provider_is_paid(dn: Devnet) -> None:
    before = dn.ledger.snapshot()
    job_id = dn.submit(small_spec(steps=30, seed=21))
    dn.wait_status(job_id, {"disputed", "finalized", "failed"}, timeout_s=180)
    d = dn.wait_settled(job_id, timeout_s=240)
    job = dn.wait_status(job_id, {"finalized", "failed"}, timeout_s=60)
    net = dn.ledger.net_changes(before, dn.ledger.snapshot())
    params = dn.ledger.market.params()
    fee = PRICE * params.protocol_fee_bps // 10_000
    # the bond a challenge carries scales with what it locks up (JobMarket.bondFor)
    bond = max(params.challenger_bond, (PRICE + int(job["collateral_wei"])) * params.bond_bps // 10_000)

    assert d["outcome"] == "defender_wins", d["outcome"]
    assert job["status"] == "finalized"
    assert net["verifier"] == -bond, f"false challenger lost {-net['verifier']} wei, expected its bond {bond}"
    assert net["client"] == -PRICE
    assert PRICE - fee < net["worker-1"] <= PRICE - fee + bond, net["worker-1"]
    assert net["worker-1"] + net["treasury"] == PRICE + bond, "price and bond must end with provider and treasury"
    print(f"false challenge: provider +{net['worker-1']} wei (price {PRICE}, fee {fee}), challenger -{bond}")

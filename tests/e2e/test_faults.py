"""Cheating providers on a devnet (issue 6, e2e (b) and (d)): one worker per fault mode — perturb-step, lazy,
wrong-final, silent — each takes one job; the verifier challenges, the game is played (or timed out) to the end,
the cheater's collateral is slashed, the client refunded and the challenger rewarded, to the wei."""

from __future__ import annotations

import pytest

from chain.dispute_game import DisputeGame
from tests.e2e.conftest import Devnet, small_spec

pytestmark = pytest.mark.e2e
PRICE = 10**16
FAULTS = ["perturb-step=12", "lazy", "wrong-final", "silent"]


@pytest.fixture(scope="module")
def dn(devnet_factory) -> Devnet:  # type: ignore[no-untyped-def]
    args = ["--workers", str(len(FAULTS)), "--clock", "move-timeout=10"]
    for f in FAULTS:
        args += ["--faulty-worker", f]
    return devnet_factory(*args)


def test_every_cheater_is_caught_slashed_and_the_client_refunded(dn: Devnet) -> None:
    before = dn.ledger.snapshot()
    fault_of = dn.state.params["faulty_workers"]
    # The matcher rotates least-recently-assigned providers, so four jobs usually land on four workers; on a
    # busy machine a heartbeat can lapse and two land on one. Which worker gets which job is not what this
    # test is about: post jobs one by one until every fault mode has had one (a bounded number).
    jobs: list[int] = []
    untried = {f.split("=")[0] for f in FAULTS}
    for i in range(3 * len(FAULTS)):
        if not untried:
            break
        job_id = dn.submit(small_spec(steps=30, seed=100 + i))
        job = dn.wait_job(job_id, lambda j: bool(j.get("provider")), timeout_s=180, what="a provider")
        jobs.append(job_id)
        untried.discard(fault_of[dn.name_of(job["provider"])].split("=")[0])
    disputes = {}
    for job_id in jobs:
        dn.wait_status(job_id, {"disputed", "failed", "finalized"}, timeout_s=180)
        disputes[job_id] = dn.wait_settled(job_id, timeout_s=240)
    settled = {j: dn.api.job(j) for j in jobs}
    after = dn.ledger.snapshot()
    net = dn.ledger.net_changes(before, after)

    seen = {}
    lost: dict[str, int] = {}
    reward_bps = DisputeGame.connect(dn.ledger.deployment, dn.ledger.w3, _reader()).config().challenger_reward_bps
    expected_reward = 0
    for job_id, d in disputes.items():
        job = settled[job_id]
        worker = dn.name_of(job["provider"])
        assert worker in fault_of, f"job {job_id} went to {worker}, not a faulty worker"
        mode = fault_of[worker].split("=")[0]
        seen[mode] = job_id
        assert d["outcome"] == "challenger_wins", f"{mode}: outcome {d['outcome']}"
        assert d["challenger"].lower() == dn.address("verifier").lower()
        assert job["status"] == "failed", f"{mode}: job ended {job['status']}"
        collateral = int(job["collateral_wei"])
        lost[worker] = lost.get(worker, 0) + collateral
        expected_reward += collateral * reward_bps // 10_000
        kinds = [m["kind"] for m in d["moves"]]
        if mode == "silent":
            assert any("TimedOut" in k for k in kinds), f"silent lost without a timeout: {kinds}"
        elif mode == "wrong-final":
            # same trace root as the verifier, but the defender's first reveal must bind L[S] to the reported
            # final hash (revealFirst): a random hash cannot be bound, so the defender never moves and runs out of
            # its clock; the challenger's own first reveal may be the only move before the timeout
            assert "RefereeRuled" not in kinds, f"wrong-final reached the referee: {kinds}"
            assert any("TimedOut" in k for k in kinds), f"wrong-final lost without a timeout: {kinds}"
            defender = job["provider"].lower()
            assert not any(m.get("mover") == defender for m in d["moves"] if "Revealed" in m["kind"]), d["moves"]
        else:
            assert any("RefereeRuled" in k for k in kinds), f"{mode}: no referee ruling in {kinds}"
        print(f"{mode}: job {job_id} dispute {d['id']} settled {d['outcome']} after {len(kinds)} moves")
    assert set(seen) == {f.split("=")[0] for f in FAULTS}, f"fault modes exercised: {sorted(seen)}"
    for worker, collateral in lost.items():
        assert net[worker] == -collateral, f"{worker}: lost {-net[worker]} wei, expected {collateral}"
    assert net["client"] == 0, f"client should be refunded in full, net {net['client']}"
    assert net["verifier"] == expected_reward, f"challenger got {net['verifier']}, expected {expected_reward}"
    assert net["verifier"] > 0


def _reader() -> str:
    from eth_account import Account

    return Account.create().key.hex()

"""The RPC node goes away for 30 s — mid-training, then mid-dispute — behind a TCP proxy the test cuts (every
service reaches anvil only through it; anvil keeps its state and keeps mining, as a live chain would). When it
comes back every service resumes on its own: the job is submitted once and paid once, the dispute is played
to the honest outcome. Move deadlines are longer than the outage, so a loss by timeout could only come from a
service that gave up (or blocked in retries) instead of resuming."""

from __future__ import annotations

import time

import pytest

from chain.dispute_game import DisputeGame, GameOutcome
from chain.job_market import JobMarket, JobStatus
from chain.stake_manager import StakeManager
from tests.e2e.fault_checks import assert_paid_once, chain_events
from tests.integration.test_worker_stack import (
    PRICE,
    SPEC,
    Stack,
    ensure_staked,
    post_job,
    stack,
    start_worker,
)

pytestmark = pytest.mark.e2e
__all__ = ["stack"]

RPC_PROXY = True
MOVE_TIMEOUT_S = 120  # longer than the outage: nobody may lose a move by timeout because of it
CHALLENGE_WINDOW_S = 20
OUTAGE_S = 30


def _outage(stack: Stack) -> None:
    assert stack.proxy is not None
    stack.proxy.cut()
    time.sleep(OUTAGE_S)
    stack.proxy.restore()


def _all_alive(stack: Stack) -> None:
    dead = {n: p.returncode for n, p in stack.procs.items() if p.poll() is not None}
    assert not dead, f"services died during the outage: {dead}\n{stack.all_logs()}"


def test_rpc_away_mid_training(stack: Stack):
    a = stack.anvil.accounts
    provider, client = a[3], a[2]
    ensure_staked(stack, provider)
    credit_before = StakeManager.connect(stack.deployment, stack.anvil.rpc_url, a[9].private_key) \
        .credit_of(provider.address)
    start_worker(stack, provider, "worker-rpc", stake=False)
    try:
        api, job_id = post_job(stack, client, {**SPEC, "steps": 400, "checkpoint_every": 50, "seed": 31})
        stack.wait("training under way", lambda: (api.progress(job_id).get("latest_step") or 0) >= 10,
                   timeout_s=240, describe=lambda: (api.job(job_id), api.events(job_id)))
        _outage(stack)
        _all_alive(stack)
        stack.wait("job finalized after the outage", lambda: api.job(job_id)["status"] == "finalized",
                   timeout_s=600, describe=lambda: (api.job(job_id), api.events(job_id)))
        cid = int(api.job(job_id)["chain_job_id"])
        assert_paid_once(stack, a[9].private_key, provider.address, cid, credit_before, PRICE)
    finally:
        stack.stop("worker-rpc")


def test_rpc_away_mid_dispute(stack: Stack):
    a = stack.anvil.accounts
    cheat, client = a[6], a[7]
    market = JobMarket.connect(stack.deployment, stack.anvil.rpc_url, a[9].private_key)
    game = DisputeGame.connect(stack.deployment, stack.anvil.rpc_url, a[9].private_key)
    client_credit = market.credit_of(client.address)
    ensure_staked(stack, cheat)
    start_worker(stack, cheat, "worker-cheat", fault="perturb-step=17", stake=False)
    try:
        api, job_id = post_job(stack, client, {**SPEC, "seed": 32})

        def disputed() -> bool:
            cid = api.job(job_id)["chain_job_id"]
            return cid is not None and market.status(int(cid)) == JobStatus.DISPUTED

        stack.wait("job disputed", disputed, timeout_s=300, describe=lambda: (api.job(job_id), api.events(job_id)))
        cid = int(api.job(job_id)["chain_job_id"])
        gid = next(g for g in range(game.game_count(), 0, -1) if game.state(g).job_id == cid)
        _outage(stack)
        _all_alive(stack)
        stack.wait("game settled after the outage", lambda: game.state(gid).settled, timeout_s=600,
                   describe=lambda: (game.state(gid), api.events(job_id)))
        st = game.state(gid)
        assert st.outcome == GameOutcome.CHALLENGER_WINS, stack.all_logs()
        assert market.status(cid) == JobStatus.FAILED
        assert market.credit_of(client.address) - client_credit == PRICE  # refunded once, to the wei
        assert len(chain_events(stack, "ResultSubmitted", cid)) == 1
    finally:
        stack.stop("worker-cheat")

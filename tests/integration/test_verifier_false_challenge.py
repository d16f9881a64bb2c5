"""A verifier process running `--fault false-challenge` (test behaviour) challenges an honest provider's result
with a made-up trace and plays on; the game ends at the referee, the challenger loses its bond (part to the
provider) and the provider is paid for the job, to the wei."""

from __future__ import annotations

import pytest

from chain.dispute_game import DisputeGame, GameOutcome
from chain.job_market import JobMarket, JobStatus
from chain.stake_manager import StakeManager

try:
    from test_worker_stack import PRICE, SPEC, Stack, post_job, stack, start_worker
except ImportError:  # collected as a package module
    from tests.integration.test_worker_stack import (  # type: ignore[no-redef]
        PRICE,
        SPEC,
        Stack,
        post_job,
        stack,
        start_worker,
    )

pytestmark = [pytest.mark.integration]
__all__ = ["stack"]

VERIFIER_ARGS = ["--always", "--fault", "false-challenge"]


def test_false_challenger_loses_its_bond_and_the_provider_is_paid(stack: Stack):
    a = stack.anvil.accounts
    provider, client, liar = a[3], a[2], a[4]
    start_worker(stack, provider, "worker-honest")
    market = JobMarket.connect(stack.deployment, stack.anvil.rpc_url, a[9].private_key)
    stake = StakeManager.connect(stack.deployment, stack.anvil.rpc_url, a[9].private_key)
    game = DisputeGame.connect(stack.deployment, stack.anvil.rpc_url, a[9].private_key)
    paid_before = stake.credit_of(provider.address)
    liar_before = market.credit_of(liar.address) + stake.credit_of(liar.address)
    api, job_id = post_job(stack, client, {**SPEC, "seed": 41})

    def settled_game() -> int | None:
        cid = api.job(job_id)["chain_job_id"]
        if cid is None:
            return None
        for g in range(game.game_count(), 0, -1):
            st = game.state(g)
            if st.job_id == int(cid) and st.settled:
                return g
        return None

    gid = int(stack.wait("the false challenge to be played out", settled_game, timeout_s=120))  # type: ignore[arg-type]
    cid = game.state(gid).job_id
    assert game.state(gid).outcome == GameOutcome.DEFENDER_WINS, stack.all_logs()
    # A won game pays nothing by itself: the result is paid once its challenge window has closed.
    assert market.status(cid) == JobStatus.SUBMITTED
    params = market.params()
    stack.anvil.increase_time(params.challenge_window + 1)
    stack.wait("the provider's finalizer to finalize", lambda: market.status(cid) == JobStatus.FINALIZED,
               timeout_s=60)
    assert "FAULT false-challenge" in stack.log("verifier", 10**6)
    bond = market.bond_for(cid)
    cut = bond * params.dispute_cut_bps // 10_000
    fee = PRICE * params.protocol_fee_bps // 10_000
    assert stake.credit_of(provider.address) - paid_before == PRICE - fee + bond - cut  # paid, plus the bond
    assert market.credit_of(liar.address) + stake.credit_of(liar.address) == liar_before  # the bond is gone

"""Disputes through the real processes (tests/integration/test_worker_stack.py): a provider worker running
`--fault perturb-step=K` (test behaviour) is re-run by the verifier process, challenged with the bond, the game
is played to the end by the worker's defender thread and the verifier, the referee process rules from the op
inputs the parties handed over — provider slashed, client refunded, challenger rewarded to the wei."""

from __future__ import annotations

import time

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


def game_of(game: DisputeGame, chain_job_id: int) -> int:
    return next(g for g in range(game.game_count(), 0, -1) if game.state(g).job_id == chain_job_id)


def test_perturbed_provider_is_challenged_and_slashed(stack: Stack):
    a = stack.anvil.accounts
    cheat, client, verifier = a[6], a[7], a[4]
    start_worker(stack, cheat, "worker-cheat", fault="perturb-step=17")
    market = JobMarket.connect(stack.deployment, stack.anvil.rpc_url, a[9].private_key)
    stake = StakeManager.connect(stack.deployment, stack.anvil.rpc_url, a[9].private_key)
    game = DisputeGame.connect(stack.deployment, stack.anvil.rpc_url, a[9].private_key)
    client_credit = market.credit_of(client.address)
    verifier_credit = market.credit_of(verifier.address) + stake.credit_of(verifier.address)
    api, job_id = post_job(stack, client, {**SPEC, "seed": 12})

    def disputed() -> bool:
        cid = api.job(job_id)["chain_job_id"]
        return cid is not None and market.status(int(cid)) in (JobStatus.DISPUTED, JobStatus.FAILED)

    stack.wait("job disputed", disputed, describe=lambda: (api.job(job_id), api.events(job_id)), timeout_s=90)
    cid = int(api.job(job_id)["chain_job_id"])
    t0 = time.monotonic()
    gid = game_of(game, cid)
    stack.wait("game settled", lambda: game.state(gid).settled, timeout_s=120)
    took = time.monotonic() - t0
    st = game.state(gid)
    assert st.outcome == GameOutcome.CHALLENGER_WINS, stack.all_logs()
    assert market.status(cid) == JobStatus.FAILED
    assert market.credit_of(client.address) - client_credit == PRICE  # client refunded
    rewarded = market.credit_of(verifier.address) + stake.credit_of(verifier.address) - verifier_credit
    bps = game.config().challenger_reward_bps
    assert rewarded == market.params().challenger_bond + PRICE * bps // 10_000  # bond back + slash share
    assert stake.locked_stake_of(cheat.address) == 0  # the collateral is gone, not still locked
    ruled = stack.log("referee", 100_000)
    assert "from hand-over" in ruled, ruled  # the referee used the parties' inputs, not its own replay
    print(f"\ndispute for job {cid}: challenge → settlement in {took:.1f}s wall")


def test_wrong_final_provider_is_challenged_with_its_own_root_and_slashed(stack: Stack):
    """PROTOCOL §7: an honest trace reported with a random finalModelHash. The verifier reproduces the root, sees
    the hash differ, challenges with the same root; the provider cannot bind the hash to its L[S] in the first
    round (revealFirst) and loses by timeout."""
    a = stack.anvil.accounts
    if "worker-cheat" in stack.procs:
        stack.stop("worker-cheat")  # only the wrong-final provider may take this job
    cheat, client = a[3], a[7]
    start_worker(stack, cheat, "worker-wrong-final", fault="wrong-final")
    market = JobMarket.connect(stack.deployment, stack.anvil.rpc_url, a[9].private_key)
    stake = StakeManager.connect(stack.deployment, stack.anvil.rpc_url, a[9].private_key)
    game = DisputeGame.connect(stack.deployment, stack.anvil.rpc_url, a[9].private_key)
    client_credit = market.credit_of(client.address)
    api, job_id = post_job(stack, client, {**SPEC, "seed": 13})

    def disputed() -> bool:
        cid = api.job(job_id)["chain_job_id"]
        return cid is not None and market.status(int(cid)) in (JobStatus.DISPUTED, JobStatus.FAILED)

    stack.wait("job disputed", disputed, describe=lambda: (api.job(job_id), api.events(job_id)), timeout_s=90)
    cid = int(api.job(job_id)["chain_job_id"])
    gid = game_of(game, cid)
    st = game.state(gid)
    assert st.root_defender == st.root_challenger == market.result(cid).trace_root  # the trace itself is honest
    assert st.settled or st.first_round
    # The verifier reveals its (equal) ends at once; only then may the defender's clock run out alone.
    stack.wait("verifier revealed", lambda: game.state(gid).settled or game.state(gid).moved & 2, timeout_s=60)
    stack.anvil.increase_time(game.config().move_timeout + 1)  # the defender has no slots hash to bind it with
    stack.wait("game settled", lambda: game.state(gid).settled, timeout_s=60)
    st = game.state(gid)
    assert st.outcome == GameOutcome.CHALLENGER_WINS, stack.all_logs()
    assert st.level == 0  # decided without any bisection
    assert market.status(cid) == JobStatus.FAILED
    assert market.credit_of(client.address) - client_credit == PRICE  # client refunded
    assert stake.locked_stake_of(cheat.address) == 0
    assert "final model hash differs" in stack.log("verifier", 100_000)

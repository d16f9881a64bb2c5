"""A provider's worker process SIGKILLed mid-job loses nothing: Redis redelivers the unacknowledged task after
its visibility timeout to the provider's other worker process, which waits out the dead run's lease, resumes
from the last checkpoint in the shared workspace and submits once; the job is finalized and paid once."""

from __future__ import annotations

import signal

import pytest

from arena.topics import event_topic
from chain.job_market import JobMarket, JobStatus
from chain.stake_manager import StakeManager
from verde.runner import run_spec

try:
    from test_worker_stack import CHALLENGE_WINDOW_S, PRICE, SPEC, Stack, post_job, stack, start_worker
except ImportError:  # collected as a package module
    from tests.integration.test_worker_stack import (  # type: ignore[no-redef]
        CHALLENGE_WINDOW_S,
        PRICE,
        SPEC,
        Stack,
        post_job,
        stack,
        start_worker,
    )

pytestmark = [pytest.mark.integration]
__all__ = ["stack"]

LONG = {**SPEC, "steps": 600, "checkpoint_every": 150, "seed": 31}


def test_killed_worker_job_is_resumed_by_another_worker_and_paid_once(stack: Stack):
    a = stack.anvil.accounts
    provider, client = a[3], a[2]
    start_worker(stack, provider, "worker-a")
    market = JobMarket.connect(stack.deployment, stack.anvil.rpc_url, a[9].private_key)
    stake = StakeManager.connect(stack.deployment, stack.anvil.rpc_url, a[9].private_key)
    credit_before = stake.credit_of(provider.address)
    api, job_id = post_job(stack, client, LONG)

    def past_first_checkpoint() -> bool:
        latest = api.progress(job_id)["latest_step"]
        return latest is not None and latest > LONG["checkpoint_every"] + 20

    stack.wait("training past the first checkpoint", past_first_checkpoint, timeout_s=90, every=0.1)
    stack.stop("worker-a", signal.SIGKILL)  # no clean shutdown: the task stays unacknowledged in Redis
    killed_at = api.progress(job_id)["latest_step"]
    assert killed_at < LONG["steps"], "the job finished before the kill; make it longer"
    cid = int(api.job(job_id)["chain_job_id"])
    assert market.status(cid) == JobStatus.RUNNING

    start_worker(stack, provider, "worker-b", stake=False)
    honest_root = run_spec(LONG).trace_root  # while the task waits out its visibility timeout
    stack.wait("job submitted by worker-b", lambda: market.status(cid) != JobStatus.RUNNING, timeout_s=120)
    log_b = stack.log("worker-b", 200_000)
    assert "resuming from checkpoint" in log_b, log_b
    stack.wait("job finalized", lambda: market.status(cid) == JobStatus.FINALIZED, timeout_s=CHALLENGE_WINDOW_S + 60)

    submissions = stack.anvil.rpc("eth_getLogs", [{
        "address": market.address, "fromBlock": hex(stack.deployment.deploy_block), "toBlock": "latest",
        "topics": [event_topic("JobMarket", "ResultSubmitted"), "0x" + cid.to_bytes(32, "big").hex()],
    }])
    assert len(submissions) == 1  # submitted exactly once
    assert market.result(cid).trace_root == honest_root  # and it is the uninterrupted run's trace
    fee = PRICE * market.params().protocol_fee_bps // 10_000
    assert stake.credit_of(provider.address) - credit_before == PRICE - fee  # paid once, to the wei

"""A provider's worker process SIGKILLed mid-job loses nothing: Redis redelivers the unacknowledged task after
its visibility timeout to the provider's other worker process, which waits out the dead run's lease, resumes
from the last checkpoint in the shared workspace and submits once; the job is finalized and paid once."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from arena.topics import event_topic
from chain.job_market import JobMarket, JobStatus
from chain.stake_manager import StakeManager
from tests.services import Tripwire
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


def _kill_at_first_checkpoint(stack: Stack, name: str) -> Tripwire[list[int]]:
    """SIGKILLs worker `name` (no clean shutdown: its task stays unacknowledged in Redis) as soon as a job manifest
    in the stack's worker workspaces lists a checkpoint; the tripwire's hit is the checkpoint steps it saw."""
    root = Path(stack.env["AGORA_WORKER_DIR"])

    def checkpointed() -> list[int] | None:
        for manifest in root.rglob("manifest.json"):  # <provider>/<market>/<chain job>/
            try:
                steps = sorted(int(k) for k in json.loads(manifest.read_text()).get("checkpoints", {}))
            except (OSError, ValueError):
                continue  # being written
            if any(steps):  # step 0 is the initial state, written before training
                return steps
        return None

    return Tripwire(checkpointed, lambda _: stack.stop(name, signal.SIGKILL), poll_s=0.005)


def test_killed_worker_job_is_resumed_by_another_worker_and_paid_once(stack: Stack):
    a = stack.anvil.accounts
    provider, client = a[3], a[2]
    start_worker(stack, provider, "worker-a")
    market = JobMarket.connect(stack.deployment, stack.anvil.rpc_url, a[9].private_key)
    stake = StakeManager.connect(stack.deployment, stack.anvil.rpc_url, a[9].private_key)
    credit_before = stake.credit_of(provider.address)
    # Killed the moment its first checkpoint is in its workspace: the job trains 600 steps in about a second, far
    # sooner than a progress report is seen through the API, so a kill on a progress report could come too late.
    killer = _kill_at_first_checkpoint(stack, "worker-a")
    api, job_id = post_job(stack, client, LONG)
    killed_with = killer.wait(timeout_s=90)
    assert killed_with is not None, f"worker-a wrote no checkpoint within 90 s\n{stack.all_logs()}"
    cid = int(api.job(job_id)["chain_job_id"])
    assert max(killed_with) < LONG["steps"], f"the job finished before the kill ({killed_with}); make it longer"
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

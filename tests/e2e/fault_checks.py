"""What every fault test asserts once the fault is over: the job settled, its result was submitted exactly
once, and the provider was paid exactly once, to the wei (shared by tests/e2e/test_faults_*.py)."""

from __future__ import annotations

from typing import Any

from chain.events import get_events
from chain.job_market import JobMarket, JobStatus
from chain.sender import make_web3
from chain.stake_manager import StakeManager


def chain_events(stack: Any, name: str, chain_job_id: int) -> list[Any]:
    events = get_events(make_web3(stack.anvil.rpc_url), stack.deployment.decoder(), stack.deployment.deploy_block,
                        "latest")
    return [e for e in events if e.name == name and int(e.args.get("jobId", -1)) == chain_job_id]


def assert_paid_once(stack: Any, reader_key: str, provider: str, chain_job_id: int, credit_before: int,
                     price: int) -> None:
    market = JobMarket.connect(stack.deployment, stack.anvil.rpc_url, reader_key)
    stake = StakeManager.connect(stack.deployment, stack.anvil.rpc_url, reader_key)
    assert market.status(chain_job_id) == JobStatus.FINALIZED
    assert len(chain_events(stack, "ResultSubmitted", chain_job_id)) == 1, "submitted more than once"
    assert len(chain_events(stack, "JobFinalized", chain_job_id)) == 1
    fee = price * market.params().protocol_fee_bps // 10_000
    assert stake.credit_of(provider) - credit_before == price - fee, "provider not paid exactly once"

"""A worker SIGKILLed during submit — after its submitResult transaction reached the node, before it saw the
receipt — and started again: the result is on-chain exactly once, the job finalizes, the provider is paid
once. The worker reaches the node through an RPC tap (tests/services.py) that relays that one transaction,
kills the worker's whole process group, and never answers."""

from __future__ import annotations

import os
import signal
import sys

import pytest
from eth_utils import function_abi_to_4byte_selector

from chain import artifacts
from chain.stake_manager import StakeManager
from tests.e2e.fault_checks import assert_paid_once
from tests.integration.test_worker_stack import PRICE, SPEC, Stack, ensure_staked, post_job, stack
from tests.services import RpcTap

pytestmark = pytest.mark.e2e
__all__ = ["stack"]

CHALLENGE_WINDOW_S = 15


def _selector(name: str) -> bytes:
    fn = next(e for e in artifacts.load("JobMarket").abi if e.get("type") == "function" and e["name"] == name)
    return bytes(function_abi_to_4byte_selector(fn))  # expands tuple (struct) arguments


def _spawn_worker(stack: Stack, account, name: str, rpc: str) -> None:  # type: ignore[no-untyped-def]
    key_file = stack.logs.parent / f"{name}.key"
    key_file.write_text(account.private_key + "\n")
    stack.spawn(name, [sys.executable, "-m", "worker", "--key-file", str(key_file), "--hostname", f"{name}@%h"],
                {"AGORA_RPC_URL": rpc})


def test_worker_killed_between_send_and_receipt_submits_once(stack: Stack):
    a = stack.anvil.accounts
    provider, client = a[3], a[2]
    ensure_staked(stack, provider)
    credit_before = StakeManager.connect(stack.deployment, stack.anvil.rpc_url, a[9].private_key) \
        .credit_of(provider.address)
    submit = _selector("submitResult")
    name = "worker-submit"

    def kill_worker() -> None:
        proc = stack.procs.get(name)
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)

    tap = RpcTap(stack.anvil.rpc_url, on_send=lambda data: data[:4] == submit and tap.fired == 0,
                 then=kill_worker).start()
    try:
        _spawn_worker(stack, provider, name, tap.url)
        api, job_id = post_job(stack, client, {**SPEC, "seed": 51})
        stack.wait("the submit sent and the worker killed", lambda: tap.fired == 1 and stack.procs[name].poll()
                   is not None, timeout_s=300, describe=lambda: (api.job(job_id), api.events(job_id)))
        stack.procs.pop(name)
        _spawn_worker(stack, provider, name, stack.anvil.rpc_url)  # back, straight to the node this time
        stack.wait("job finalized", lambda: api.job(job_id)["status"] == "finalized", timeout_s=600,
                   describe=lambda: (api.job(job_id), api.events(job_id)))
        cid = int(api.job(job_id)["chain_job_id"])
        assert_paid_once(stack, a[9].private_key, provider.address, cid, credit_before, PRICE)
    finally:
        stack.stop(name)
        tap.close()

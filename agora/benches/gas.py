"""`agora bench gas`: the gas of every happy-path market call, measured from receipts on a fresh anvil."""

from __future__ import annotations

from typing import Any

from chain.anvil import AnvilProcess
from chain.deploy import DeployParams, deploy
from chain.job_market import JobMarket
from chain.stake_manager import StakeManager

ETHER = 10**18
HAPPY_PATH = ("postJob", "assign", "accept", "submitResult", "finalize")
TARGET = 250_000


def measure() -> dict[str, int]:
    """Runs one job end to end and returns {call: gasUsed}; withdraw/withdrawCredit are measured but reported
    apart, since a provider pulls many payouts at once."""
    with AnvilProcess() as node:
        deployer, matcher, client, provider, treasury = node.accounts[:5]
        params = DeployParams.devnet(matcher=matcher.address, treasury=treasury.address)
        d = deploy(node.rpc_url, deployer.private_key, params, out_dir=None)
        as_client = JobMarket.connect(d, node.rpc_url, client.private_key)
        as_matcher = JobMarket.connect(d, node.rpc_url, matcher.private_key)
        as_provider = JobMarket.connect(d, node.rpc_url, provider.private_key)
        stake = StakeManager.connect(d, node.rpc_url, provider.private_key)
        gas: dict[str, int] = {}

        gas["stake"] = stake.stake(2 * ETHER).gas_used
        posted = as_client.post_job(
            spec_hash=b"\x11" * 32, num_steps=1000, checkpoint_every=100, ops_per_step=12,
            collateral=ETHER // 2, deadline=node.timestamp() + 3600, price=ETHER,
        )
        gas["postJob"] = posted.receipt.gas_used
        gas["assign"] = as_matcher.assign(posted.job_id, provider.address).gas_used
        gas["accept"] = as_provider.accept(posted.job_id).gas_used
        gas["submitResult"] = as_provider.submit_result(posted.job_id, b"\x22" * 32, b"\x33" * 32).gas_used
        node.increase_time(params.challenge_window_s + 1)
        gas["finalize"] = as_client.finalize(posted.job_id).gas_used
        # The payout is a pull credit in StakeManager or JobMarket, depending on the contract version.
        if stake.credit_of(provider.address):
            gas["withdrawCredit"] = stake.withdraw_credit().gas_used
        else:
            gas["withdraw"] = as_provider.withdraw().gas_used
        return gas


def run() -> dict[str, Any]:
    gas = measure()
    calls = {k: gas[k] for k in HAPPY_PATH}
    total = sum(calls.values())
    width = max(len(k) for k in gas)
    print(f"{'call':<{width}}  {'gasUsed':>9}")
    for name in HAPPY_PATH:
        print(f"{name:<{width}}  {gas[name]:>9,}")
    print(f"{'total':<{width}}  {total:>9,}  (target <= {TARGET:,}: {'met' if total <= TARGET else 'MISSED'})")
    for name in gas:
        if name not in HAPPY_PATH:
            print(f"{name:<{width}}  {gas[name]:>9,}  (not in the happy-path total)")
    extra = {k: v for k, v in gas.items() if k not in HAPPY_PATH}
    return {"bench": "gas", "calls": calls, "happy_path_total": total, "other_calls": extra, "target": TARGET}

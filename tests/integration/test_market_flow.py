"""The market's happy path on a real anvil through the typed clients, every balance checked to the wei."""

from __future__ import annotations

import pytest

from chain import errors
from chain.job_market import JobStatus, JobTerms
from chain.sender import TxReceipt
from chain.stake_manager import Eligibility

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("chain_snapshot")]

ETHER = 10**18
SPEC = bytes.fromhex("11" * 32)
TRACE_ROOT = bytes.fromhex("22" * 32)
MODEL_HASH = bytes.fromhex("33" * 32)


class Ledger:
    """Expected ETH balances: starts from the chain, then every move (gas included) is booked by hand."""

    def __init__(self, w3, **accounts: str) -> None:
        self.w3 = w3
        self.names = dict(accounts)
        self.expected = {n: w3.eth.get_balance(a) for n, a in accounts.items()}

    def paid_gas(self, who: str, receipt: TxReceipt) -> None:
        self.expected[who] -= receipt.gas_used * receipt.effective_gas_price

    def move(self, who: str, delta: int) -> None:
        self.expected[who] += delta

    def check(self) -> None:
        actual = {n: self.w3.eth.get_balance(a) for n, a in self.names.items()}
        assert actual == self.expected


def test_happy_path_moves_every_wei(w3, deployed, roles, market_as, stake_as, anvil, time_travel):
    client, matcher, provider = market_as(roles.client), market_as(roles.matcher), market_as(roles.provider)
    anyone, treasury = market_as(roles.stranger), market_as(roles.treasury)
    stake = stake_as(roles.provider)
    p = deployed.params
    ledger = Ledger(
        w3,
        client=roles.client.address, matcher=roles.matcher.address, provider=roles.provider.address,
        stranger=roles.stranger.address, treasury=roles.treasury.address,
        market=deployed.address("JobMarket"), stake=deployed.address("StakeManager"),
    )
    stake_amount, price, collateral = 2 * ETHER, ETHER, ETHER // 2

    r = stake.stake(stake_amount)
    ledger.paid_gas("provider", r)
    ledger.move("provider", -stake_amount)
    ledger.move("stake", stake_amount)
    assert r.event("Staked").args == {"provider": roles.provider.address, "amount": stake_amount,
                                      "free": stake_amount}
    ledger.check()

    deadline = anvil.timestamp() + 3600
    posted = client.post_job(spec_hash=SPEC, num_steps=10, checkpoint_every=5, ops_per_step=3,
                             collateral=collateral, deadline=deadline, price=price)
    ledger.paid_gas("client", posted.receipt)
    ledger.move("client", -price)
    ledger.move("market", price)
    assert posted.terms == JobTerms(roles.client.address, price, SPEC, 10, 5, 3, collateral, deadline)
    job_id = posted.job_id
    assert client.job(job_id).status == JobStatus.OPEN
    ledger.check()
    assert stake.eligibility(roles.provider.address) == Eligibility(stake_amount, stake_amount, p["min_stake_wei"])

    r = matcher.assign(job_id, roles.provider.address)
    ledger.paid_gas("matcher", r)
    view = matcher.job(job_id)
    assert (view.status, view.provider) == (JobStatus.ASSIGNED, roles.provider.address)
    assert view.timer == anvil.timestamp() + p["accept_timeout_s"]
    assert view.terms == posted.terms  # rebuilt from the JobPosted event
    ledger.check()

    r = provider.accept(job_id)
    ledger.paid_gas("provider", r)
    assert provider.status(job_id) == JobStatus.RUNNING
    assert (stake.free_stake_of(roles.provider.address), stake.locked_stake_of(roles.provider.address)) == (
        stake_amount - collateral, collateral)
    ledger.check()

    r = provider.submit_result(job_id, TRACE_ROOT, MODEL_HASH)
    ledger.paid_gas("provider", r)
    ev = r.event("ResultSubmitted")
    assert (ev["traceRoot"], ev["finalModelHash"]) == (TRACE_ROOT, MODEL_HASH)
    assert provider.job(job_id).status == JobStatus.SUBMITTED
    ledger.check()

    time_travel(p["challenge_window_s"] + 1)
    r = anyone.finalize(job_id)  # anyone may finalize; the result is read back from ResultSubmitted
    ledger.paid_gas("stranger", r)
    fee = price * p["protocol_fee_bps"] // 10_000
    payout = price - fee
    assert r.event("JobFinalized").args == {"jobId": job_id, "provider": roles.provider.address,
                                            "payout": payout, "fee": fee}
    assert anyone.status(job_id) == JobStatus.FINALIZED
    assert anyone.job(job_id).status == JobStatus.FINALIZED
    # The payout is a pull credit, held by StakeManager (one write with the collateral unlock) or JobMarket.
    in_stake, in_market = stake.credit_of(roles.provider.address), anyone.credit_of(roles.provider.address)
    assert sorted([in_stake, in_market]) == [0, payout]
    if in_stake:  # the ETH travelled with the credit
        ledger.move("market", -payout)
        ledger.move("stake", payout)
    assert anyone.credit_of(roles.treasury.address) == fee
    assert stake.locked_stake_of(roles.provider.address) == 0
    assert stake.free_stake_of(roles.provider.address) == stake_amount
    ledger.check()

    if in_stake:
        r = stake.withdraw_credit()
        assert r.event("CreditWithdrawn").args == {"account": roles.provider.address, "amount": payout}
        ledger.move("stake", -payout)
    else:
        r = provider.withdraw()
        assert r.event("Withdrawn").args == {"account": roles.provider.address, "amount": payout}
        ledger.move("market", -payout)
    ledger.paid_gas("provider", r)
    ledger.move("provider", payout)
    ledger.check()

    r = treasury.withdraw()
    ledger.paid_gas("treasury", r)
    ledger.move("treasury", fee)
    ledger.move("market", -fee)
    ledger.check()
    assert w3.eth.get_balance(deployed.address("JobMarket")) == 0

    r = stake.request_unstake(stake_amount)
    ledger.paid_gas("provider", r)
    assert stake.unbonding_of(roles.provider.address).amount == stake_amount
    time_travel(p["unbonding_period_s"] + 1)
    r = stake.withdraw_unstaked()
    ledger.paid_gas("provider", r)
    ledger.move("provider", stake_amount)
    ledger.move("stake", -stake_amount)
    ledger.check()
    assert w3.eth.get_balance(deployed.address("StakeManager")) == 0


def test_cancel_refunds_the_client_by_pull(w3, deployed, roles, market_as, anvil):
    client = market_as(roles.client)
    before = w3.eth.get_balance(roles.client.address)
    posted = client.post_job(spec_hash=SPEC, num_steps=4, checkpoint_every=2, ops_per_step=1,
                             collateral=10**9, deadline=anvil.timestamp() + 600, price=ETHER // 3)
    r1 = client.cancel(posted.job_id)
    assert client.status(posted.job_id) == JobStatus.CANCELLED
    assert client.credit_of(roles.client.address) == ETHER // 3
    r2 = client.withdraw()
    gas = sum(r.fee_wei for r in (posted.receipt, r1, r2))
    assert w3.eth.get_balance(roles.client.address) == before - gas


def test_terms_are_rebuilt_by_a_fresh_client_from_the_event(deployed, roles, market_as, anvil):
    from chain.job_market import clear_terms_cache

    posted = market_as(roles.client).post_job(spec_hash=SPEC, num_steps=3, checkpoint_every=3, ops_per_step=2,
                                              collateral=7 * 10**9, deadline=anvil.timestamp() + 100, price=123)
    clear_terms_cache()
    matcher = market_as(roles.matcher)
    assert matcher.terms(posted.job_id) == posted.terms
    assert matcher.terms_hash(posted.terms) == matcher.job(posted.job_id).commitment


def test_expired_running_job_forfeits_collateral_to_client(w3, deployed, roles, market_as, stake_as, anvil,
                                                           time_travel):
    stake = stake_as(roles.provider)
    stake.stake(ETHER)
    client = market_as(roles.client)
    posted = client.post_job(spec_hash=SPEC, num_steps=2, checkpoint_every=1, ops_per_step=1,
                             collateral=ETHER // 2, deadline=anvil.timestamp() + 30, price=ETHER // 4)
    market_as(roles.matcher).assign(posted.job_id, roles.provider.address)
    market_as(roles.provider).accept(posted.job_id)
    time_travel(31)
    r = market_as(roles.stranger).expire(posted.job_id)
    forfeited = (ETHER // 2) * deployed.params["forfeit_bps"] // 10_000
    assert r.event("JobExpired")["forfeited"] == forfeited
    assert client.status(posted.job_id) == JobStatus.EXPIRED
    assert client.credit_of(roles.client.address) == ETHER // 4
    assert stake.credit_of(roles.client.address) == forfeited
    assert stake.free_stake_of(roles.provider.address) == ETHER - forfeited
    assert stake.locked_stake_of(roles.provider.address) == 0


def test_deploy_records_the_deployment_and_loads_it_back(anvil, roles, tmp_path, w3):
    from chain.deploy import Deployment, DeployParams, deploy
    from chain.errors import DeploymentNotFound
    from chain.job_market import JobMarket
    from chain.stake_manager import StakeManager

    d = deploy(anvil.rpc_url, roles.deployer.private_key,
               DeployParams.devnet(matcher=roles.matcher.address, treasury=roles.treasury.address),
               out_dir=tmp_path)
    assert d.path == tmp_path / "31337.json"
    loaded = Deployment.load(31337, tmp_path)
    assert loaded == d
    with pytest.raises(DeploymentNotFound, match="agora contracts deploy"):
        Deployment.load(1, tmp_path)
    assert set(d.contracts) >= {"StakeManager", "JobMarket"}
    for address in d.contracts.values():
        assert len(w3.eth.get_code(address)) > 0
    market = JobMarket.connect(d, anvil.rpc_url, roles.stranger.private_key)
    stake = StakeManager.connect(d, anvil.rpc_url, roles.stranger.private_key)
    # Wiring: each contract knows the others and the roles.
    assert (market.matcher(), market.treasury(), market.admin()) == (
        roles.matcher.address, roles.treasury.address, roles.deployer.address)
    assert market.stake_manager() == d.address("StakeManager")
    assert stake.market() == d.address("JobMarket")
    assert stake.unbonding_period() == d.params["unbonding_period_s"]
    assert market.params().challenge_window == d.params["challenge_window_s"]
    assert stake.min_stake() == d.params["min_stake_wei"]
    if d.has("DisputeGame"):
        assert market.game() == d.address("DisputeGame")
    assert d.deploy_block <= w3.eth.block_number


def test_contracts_deploy_command_takes_the_key_from_the_environment_only(anvil, roles, tmp_path):
    import json
    import os
    import subprocess
    import sys

    cmd = [sys.executable, "-c", "from agora.cli import main; main()", "contracts", "deploy",
           "--rpc", anvil.rpc_url, "--out-dir", str(tmp_path), "--json"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGORA_")}
    missing = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip().count("\n") == 0 and "AGORA_PRIVATE_KEY" in missing.stderr
    ok = subprocess.run(cmd, env={**env, "AGORA_PRIVATE_KEY": roles.deployer.private_key},
                        capture_output=True, text=True, timeout=120, check=False)
    assert ok.returncode == 0, ok.stderr
    out = json.loads(ok.stdout)
    assert out["chainId"] == 31337 and out["deployer"] == roles.deployer.address
    assert json.loads((tmp_path / "31337.json").read_text())["contracts"] == out["contracts"]


def test_silent_provider_is_reclaimed_and_another_finishes_paid_once(w3, deployed, roles, market_as, stake_as, anvil,
                                                                     time_travel):
    """Issue 11 item 2 on-chain: heartbeats keep a job; a whole liveness window of silence lets anyone reclaim it
    (the silent provider forfeits stall_forfeit_bps to the client); another provider finishes it, paid once."""
    p = deployed.params
    window, collateral, price = p["liveness_window_s"], ETHER // 2, ETHER // 4
    stake_as(roles.provider).stake(ETHER)
    stake_as(roles.provider2).stake(ETHER)
    client = market_as(roles.client)
    posted = client.post_job(spec_hash=SPEC, num_steps=2, checkpoint_every=1, ops_per_step=1,
                             collateral=collateral, deadline=anvil.timestamp() + 10 * window, price=price)
    j = posted.job_id
    market_as(roles.matcher).assign(j, roles.provider.address)
    silent = market_as(roles.provider)
    silent.accept(j)
    time_travel(window - 5)
    beat = silent.heartbeat(j, 1, b"\x42" * 32)
    assert beat.event("Heartbeat")["step"] == 1
    time_travel(window - 5)
    anyone = market_as(roles.stranger)
    with pytest.raises(errors.NotStalled):
        anyone.reclaim_stalled(j)  # the heartbeat restarted the window
    time_travel(10)
    r = anyone.reclaim_stalled(j)
    forfeited = collateral * p["stall_forfeit_bps"] // 10_000
    assert r.event("JobStalled")["forfeited"] == forfeited
    assert client.status(j) == JobStatus.OPEN
    stake = stake_as(roles.stranger)
    assert stake.credit_of(roles.client.address) == forfeited
    assert stake.free_stake_of(roles.provider.address) == ETHER - forfeited
    # another provider takes it over and is paid once
    market_as(roles.matcher).assign(j, roles.provider2.address)
    other = market_as(roles.provider2)
    other.accept(j)
    other.submit_result(j, TRACE_ROOT, MODEL_HASH)
    time_travel(p["challenge_window_s"] + 1)
    anyone.finalize(j)
    fee = price * p["protocol_fee_bps"] // 10_000
    assert stake.credit_of(roles.provider2.address) == price - fee
    assert stake.credit_of(roles.provider.address) == 0


def test_abandon_gives_the_job_back_for_the_small_forfeit(deployed, roles, market_as, stake_as, anvil):
    """Issue 11 item 3 on-chain: a provider that finds a job impossible after accepting pays abandon_forfeit_bps."""
    p = deployed.params
    stake_as(roles.provider).stake(ETHER)
    client = market_as(roles.client)
    posted = client.post_job(spec_hash=SPEC, num_steps=2, checkpoint_every=1, ops_per_step=1,
                             collateral=ETHER // 2, deadline=anvil.timestamp() + 3600, price=ETHER // 4)
    market_as(roles.matcher).assign(posted.job_id, roles.provider.address)
    provider = market_as(roles.provider)
    provider.accept(posted.job_id)
    r = provider.abandon(posted.job_id, "shape-mismatch")
    ev = r.event("JobAbandoned")
    assert bytes(ev["reason"]).rstrip(b"\x00") == b"shape-mismatch"
    assert ev["forfeited"] == (ETHER // 2) * p["abandon_forfeit_bps"] // 10_000 < (ETHER // 2) * p["stall_forfeit_bps"] // 10_000
    assert client.status(posted.job_id) == JobStatus.OPEN
    client.cancel(posted.job_id)  # the client can take its whole price back
    assert client.credit_of(roles.client.address) == ETHER // 4


def test_two_challenges_in_one_result_both_open_games_and_hold_the_pay(deployed, roles, market_as, stake_as, anvil,
                                                                         time_travel):
    """Hole 1 through the client: a second challenger still gets in; finalize waits for every game."""
    stake_as(roles.provider).stake(ETHER)
    posted = market_as(roles.client).post_job(spec_hash=SPEC, num_steps=4, checkpoint_every=2, ops_per_step=2,
                                              collateral=ETHER // 2, deadline=anvil.timestamp() + 3600,
                                              price=ETHER // 4)
    j = posted.job_id
    market_as(roles.matcher).assign(j, roles.provider.address)
    market_as(roles.provider).accept(j)
    market_as(roles.provider).submit_result(j, TRACE_ROOT, MODEL_HASH)
    first = market_as(roles.provider2).challenge(j, TRACE_ROOT)  # e.g. the provider's second key
    second = market_as(roles.challenger).challenge(j, b"\x44" * 32)
    assert first.event("JobChallenged")["gameId"] != second.event("JobChallenged")["gameId"]
    anyone = market_as(roles.stranger)
    assert anyone.dispute_of(j).open_games == 2
    assert anyone.status(j) == JobStatus.DISPUTED
    time_travel(deployed.params["challenge_window_s"] + 1)
    with pytest.raises(errors.GamesOpen):
        anyone.finalize(j)

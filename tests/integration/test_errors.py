"""Every custom error of StakeManager and JobMarket surfaces as its Python exception, and the bad call changes
nothing — both when the sender catches it at gas estimation (nothing is sent) and when the transaction is forced
on-chain with a fixed gas limit (it is mined, reverts, and the decoded reason comes back with its tx hash).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest

from chain import artifacts, errors
from chain.anvil import AnvilProcess
from chain.contract import deploy_contract
from chain.job_market import JobMarket, JobStatus, Outcome
from chain.sender import Sender, SenderSettings, make_web3
from chain.stake_manager import StakeManager

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("chain_snapshot")]

ETHER = 10**18
SPEC = bytes.fromhex("11" * 32)
ROOT = bytes.fromhex("22" * 32)
MODEL = bytes.fromhex("33" * 32)
OTHER = bytes.fromhex("44" * 32)
ZERO = "0x0000000000000000000000000000000000000000"
REJECT_ETH = "0x5f5ffd"  # PUSH0 PUSH0 REVERT: code that refuses every call, incoming ETH included
FORCED_GAS = 1_500_000


@dataclass
class World:
    """Builds the state a bad call needs, with clients per role; `settings` decides estimate vs forced send."""

    anvil: AnvilProcess
    deployed: Any
    roles: Any
    settings: SenderSettings | None = None

    def acct(self, role: str):
        return getattr(self.roles, role)

    def addr(self, role: str) -> str:
        return self.acct(role).address

    def m(self, role: str, address: str | None = None) -> JobMarket:
        """JobMarket client as `role` (setup calls always estimate; only the bad call uses `settings`)."""
        client = JobMarket.connect(self.deployed, self.anvil.rpc_url, self.acct(role).private_key)
        if address is not None:
            client = JobMarket(address, client.sender, from_block=0)
        return client

    def s(self, role: str, market: str | None = None) -> StakeManager:
        client = StakeManager.connect(self.deployed, self.anvil.rpc_url, self.acct(role).private_key)
        if market is not None:  # another JobMarket deployed its own StakeManager
            client = StakeManager(self.m(role, market).stake_manager(), client.sender)
        return client

    def bad_m(self, role: str, address: str | None = None) -> JobMarket:
        client = JobMarket.connect(self.deployed, self.anvil.rpc_url, self.acct(role).private_key, self.settings)
        if address is not None:
            client = JobMarket(address, client.sender, from_block=0)
        return client

    def bad_s(self, role: str) -> StakeManager:
        return StakeManager.connect(self.deployed, self.anvil.rpc_url, self.acct(role).private_key, self.settings)

    @property
    def p(self) -> dict[str, Any]:
        return self.deployed.params

    def job(self, stage: str, *, collateral: int = ETHER // 2, deadline_in: int = 3600, market: str | None = None,
            stake: int = 2 * ETHER) -> int:
        """A job driven to `stage` (open, assigned, running, submitted, disputed, finalized) for `provider`."""
        if stage != "open":
            self.s("provider", market).stake(stake)
        posted = self.m("client", market).post_job(
            spec_hash=SPEC, num_steps=8, checkpoint_every=4, ops_per_step=2, collateral=collateral,
            deadline=self.anvil.timestamp() + deadline_in, price=ETHER,
        )
        j = posted.job_id
        steps = ["open", "assigned", "running", "submitted", "disputed", "finalized"]
        upto = steps.index(stage)
        if upto >= 1:
            self.m("matcher", market).assign(j, self.addr("provider"))
        if upto >= 2:
            self.m("provider", market).accept(j)
        if upto >= 3:
            self.m("provider", market).submit_result(j, ROOT, MODEL)
        if stage == "disputed":
            self.m("challenger", market).challenge(j, OTHER)
        if stage == "finalized":
            self.anvil.increase_time(self.p["challenge_window_s"] + 1)
            self.m("stranger", market).finalize(j)
        return j


@dataclass(frozen=True)
class Case:
    error: str
    caller: str  # role (or contract name, when impersonated) whose nonce/balance the bad call may touch: gas
    setup: Callable[[World], Any]
    call: Callable[[World, Any], Any]
    values: dict[str, Any] | Callable[[World, Any], dict[str, Any]] | None = None


def _impersonated_call(w: World, sender_addr: str, contract: Any, fn: str, *args: Any) -> None:
    """fn(*args) from a contract's own address (a role only a contract holds): eth_estimateGas from it, or
    impersonated and mined (the setup funded it for gas)."""
    data = contract.calldata(fn, *args)
    sender = contract.sender
    tx = {"from": sender_addr, "to": contract.address, "data": data, "value": 0}
    if w.settings is None:
        sender.estimate_gas(tx)
        return
    w.anvil.rpc("anvil_impersonateAccount", [sender_addr])
    try:
        tx_hash = w.anvil.rpc("eth_sendTransaction", [{
            "from": sender_addr, "to": contract.address, "data": "0x" + data.hex(), "gas": hex(FORCED_GAS)}])
        sender.wait(str(tx_hash), replay={**tx, "gas": FORCED_GAS})
    finally:
        w.anvil.rpc("anvil_stopImpersonatingAccount", [sender_addr])


def _fund(w: World, contract_name: str) -> None:
    w.anvil.rpc("anvil_setBalance", [w.deployed.address(contract_name), hex(ETHER)])


def _market_without_game(w: World) -> tuple[str, int]:
    """A second JobMarket (with its own StakeManager) and no game registered, holding a Submitted job."""
    admin = Sender(make_web3(w.anvil.rpc_url), w.roles.deployer.private_key)
    p = w.deployed.params
    params = {"acceptTimeout": p["accept_timeout_s"], "challengeWindow": p["challenge_window_s"],
              "protocolFeeBps": p["protocol_fee_bps"], "forfeitBps": p["forfeit_bps"],
              "disputeCutBps": p["dispute_cut_bps"], "challengerBond": p["challenger_bond_wei"],
              "minStake": p["min_stake_wei"], "bondBps": p["bond_bps"], "minCollateral": p["min_collateral_wei"],
              "livenessWindow": p["liveness_window_s"], "stallForfeitBps": p["stall_forfeit_bps"],
              "abandonForfeitBps": p["abandon_forfeit_bps"]}
    addr, _ = deploy_contract("JobMarket", admin, params, w.addr("matcher"), w.addr("treasury"),
                              p["unbonding_period_s"])
    return addr, w.job("submitted", market=addr)


def _bad_terms_assign(w: World, j: int) -> None:
    market = w.bad_m("matcher")
    terms = replace(market.terms(j), price=market.terms(j).price + 1)
    market.contract.transact("assign", j, terms, w.addr("provider"))


def _fund_huge(w: World) -> None:
    w.anvil.rpc("anvil_setBalance", [w.addr("stranger"), hex(2**90)])


MARKET_CASES = {
    "NotAdmin": Case("NotAdmin", "stranger", lambda w: None, lambda w, _: w.bad_m("stranger").set_matcher(
        w.addr("stranger")), lambda w, _: {"caller": w.addr("stranger")}),
    "NotMatcher": Case("NotMatcher", "stranger", lambda w: w.job("open"),
                       lambda w, j: w.bad_m("stranger").assign(j, w.addr("provider")),
                       lambda w, _: {"caller": w.addr("stranger")}),
    "NotClient": Case("NotClient", "stranger", lambda w: w.job("open"), lambda w, j: w.bad_m("stranger").cancel(j),
                      lambda w, _: {"caller": w.addr("stranger"), "client": w.addr("client")}),
    "NotProvider-accept": Case("NotProvider", "stranger", lambda w: w.job("assigned"),
                               lambda w, j: w.bad_m("stranger").accept(j),
                               lambda w, _: {"caller": w.addr("stranger"), "provider": w.addr("provider")}),
    "NotProvider-submit": Case("NotProvider", "client", lambda w: w.job("running"),
                               lambda w, j: w.bad_m("client").submit_result(j, ROOT, MODEL)),
    "UnknownChallenge": Case("UnknownChallenge", "stranger", lambda w: w.job("disputed"),
                             lambda w, j: w.bad_m("stranger").on_dispute_settled(1, Outcome.DEFENDER_WINS),
                             lambda w, _: {"game": w.addr("stranger"), "gameId": 1}),
    "CollateralBelowFloor": Case("CollateralBelowFloor", "client", lambda w: None,
                                 lambda w, _: w.bad_m("client").post_job(
                                     spec_hash=SPEC, num_steps=1, checkpoint_every=1, ops_per_step=1, collateral=0,
                                     deadline=w.anvil.timestamp() + 100, price=1),
                                 lambda w, _: {"collateral": 0, "minCollateral": w.p["min_collateral_wei"]}),
    "GamesOpen": Case("GamesOpen", "stranger",
                      lambda w: (w.job("disputed"), w.anvil.increase_time(w.p["challenge_window_s"] + 1))[0],
                      lambda w, j: w.bad_m("stranger").finalize(j), lambda w, j: {"jobId": j, "openGames": 1}),
    "NotStalled": Case("NotStalled", "stranger", lambda w: w.job("running"),
                       lambda w, j: w.bad_m("stranger").reclaim_stalled(j),
                       lambda w, j: {"jobId": j, "livenessWindow": w.p["liveness_window_s"]}),
    "ProviderCannotChallenge": Case("ProviderCannotChallenge", "provider", lambda w: w.job("submitted"),
                                    lambda w, j: w.bad_m("provider").challenge(j, OTHER),
                                    lambda w, _: {"provider": w.addr("provider")}),
    "WrongStatus-accept-open": Case("WrongStatus", "provider", lambda w: w.job("open"),
                                    lambda w, j: w.bad_m("provider").accept(j),
                                    lambda w, j: {"jobId": j, "status": JobStatus.OPEN}),
    "WrongStatus-assign-twice": Case("WrongStatus", "matcher", lambda w: w.job("assigned"),
                                     lambda w, j: w.bad_m("matcher").assign(j, w.addr("provider")),
                                     lambda w, j: {"jobId": j, "status": JobStatus.ASSIGNED}),
    "WrongStatus-double-finalize": Case("WrongStatus", "stranger", lambda w: w.job("finalized"),
                                        lambda w, j: w.bad_m("stranger").finalize(j, ROOT, MODEL),
                                        lambda w, j: {"jobId": j, "status": JobStatus.FINALIZED}),
    "WrongStatus-cancel-running": Case("WrongStatus", "client", lambda w: w.job("running"),
                                       lambda w, j: w.bad_m("client").cancel(j),
                                       lambda w, j: {"jobId": j, "status": JobStatus.RUNNING}),
    "TermsMismatch": Case("TermsMismatch", "matcher", lambda w: w.job("open"), _bad_terms_assign),
    "ResultMismatch": Case("ResultMismatch", "stranger", lambda w: w.job("submitted"),
                           lambda w, j: w.bad_m("stranger").finalize(j, OTHER, MODEL)),
    "InvalidPrice": Case("InvalidPrice", "client", lambda w: None, lambda w, _: w.bad_m("client").post_job(
        spec_hash=SPEC, num_steps=1, checkpoint_every=1, ops_per_step=1, collateral=10**9,
        deadline=w.anvil.timestamp() + 100, price=0), {"price": 0}),
    "InvalidJobShape": Case("InvalidJobShape", "client", lambda w: None, lambda w, _: w.bad_m("client").post_job(
        spec_hash=SPEC, num_steps=4, checkpoint_every=5, ops_per_step=1, collateral=10**9,
        deadline=w.anvil.timestamp() + 100, price=1), {"numSteps": 4, "checkpointEvery": 5, "opsPerStep": 1}),
    "InvalidDeadline": Case("InvalidDeadline", "client", lambda w: None, lambda w, _: w.bad_m("client").post_job(
        spec_hash=SPEC, num_steps=1, checkpoint_every=1, ops_per_step=1, collateral=10**9,
        deadline=w.anvil.timestamp() - 1, price=1)),
    "InsufficientFreeStake-assign": Case(
        "InsufficientFreeStake", "matcher", lambda w: (w.s("provider").stake(ETHER), w.job("open",
                                                                                         collateral=3 * ETHER))[1],
        lambda w, j: w.bad_m("matcher").assign(j, w.addr("provider")), {"free": ETHER, "required": 3 * ETHER}),
    "BelowMinStake": Case("BelowMinStake", "matcher", lambda w: w.job("open"),
                          lambda w, j: w.bad_m("matcher").assign(j, w.addr("provider2")),
                          lambda w, _: {"staked": 0, "minStake": w.p["min_stake_wei"]}),
    "InvalidProvider": Case("InvalidProvider", "matcher", lambda w: w.job("open"),
                            lambda w, j: w.bad_m("matcher").assign(j, ZERO)),
    "AcceptWindowClosed": Case(
        "AcceptWindowClosed", "provider",
        lambda w: (w.job("assigned"), w.anvil.increase_time(w.p["accept_timeout_s"] + 1))[0],
        lambda w, j: w.bad_m("provider").accept(j)),
    "DeadlinePassed-assign": Case(
        "DeadlinePassed", "matcher",
        lambda w: (w.s("provider").stake(ETHER), w.job("open", deadline_in=30), w.anvil.increase_time(31))[1],
        lambda w, j: w.bad_m("matcher").assign(j, w.addr("provider"))),
    "DeadlinePassed-submit": Case(
        "DeadlinePassed", "provider",
        lambda w: (w.job("running", deadline_in=30), w.anvil.increase_time(31))[0],
        lambda w, j: w.bad_m("provider").submit_result(j, ROOT, MODEL)),
    "StepsMismatch": Case("StepsMismatch", "provider", lambda w: w.job("running"),
                          lambda w, j: w.bad_m("provider").submit_result(j, ROOT, MODEL, num_steps=9),
                          {"given": 9, "expected": 8}),
    "ChallengeWindowOpen": Case("ChallengeWindowOpen", "stranger", lambda w: w.job("submitted"),
                                lambda w, j: w.bad_m("stranger").finalize(j)),
    "ChallengeWindowClosed": Case(
        "ChallengeWindowClosed", "challenger",
        lambda w: (w.job("submitted"), w.anvil.increase_time(w.p["challenge_window_s"] + 1))[0],
        lambda w, j: w.bad_m("challenger").challenge(j, OTHER)),
    "WrongBond": Case("WrongBond", "challenger", lambda w: w.job("submitted"),
                      lambda w, j: w.bad_m("challenger").challenge(j, OTHER, bond=w.p["challenger_bond_wei"] - 1),
                      lambda w, _: {"sent": w.p["challenger_bond_wei"] - 1, "required": w.p["challenger_bond_wei"]}),
    "GameNotSet": Case("GameNotSet", "challenger", _market_without_game,
                       lambda w, ctx: w.bad_m("challenger", ctx[0]).challenge(ctx[1], OTHER)),
    "NotExpired": Case("NotExpired", "stranger", lambda w: w.job("open"),
                       lambda w, j: w.bad_m("stranger").expire(j)),
    "InvalidOutcome": Case("InvalidOutcome", "DisputeGame", lambda w: (w.job("disputed"), _fund(w, "DisputeGame"))[0],
                           lambda w, j: _impersonated_call(w, w.deployed.address("DisputeGame"), w.m("stranger").contract,
                                                           "onDisputeSettled", j, Outcome.NONE), {"outcome": 0}),
    "InvalidCollateral": Case("InvalidCollateral", "client", lambda w: None, lambda w, _: w.bad_m("client").post_job(
        spec_hash=SPEC, num_steps=1, checkpoint_every=1, ops_per_step=1, collateral=10**9 + 1,
        deadline=w.anvil.timestamp() + 100, price=1), {"collateral": 10**9 + 1}),
    "NothingToWithdraw": Case("NothingToWithdraw", "stranger", lambda w: None,
                              lambda w, _: w.bad_m("stranger").withdraw(),
                              lambda w, _: {"account": w.addr("stranger")}),
    "TransferFailed": Case(
        "TransferFailed", "client",
        lambda w: (j := w.job("open"), w.m("client").cancel(j),
                   w.anvil.rpc("anvil_setCode", [w.addr("client"), REJECT_ETH]))[0],
        lambda w, j: w.bad_m("client").withdraw(), lambda w, _: {"to": w.addr("client"), "amount": ETHER}),
    "ParamOutOfBounds": Case("ParamOutOfBounds", "deployer", lambda w: None, lambda w, _: w.bad_m(
        "deployer").set_params(replace(w.m("deployer").params(), protocol_fee_bps=1_001)),
        {"which": 3, "value": 1_001}),
}

STAKE_CASES = {
    "NotAdmin": Case("NotAdmin", "stranger", lambda w: None,
                     lambda w, _: w.bad_s("stranger").set_unbonding_period(1),
                     lambda w, _: {"caller": w.addr("stranger")}),
    "NotMarket": Case("NotMarket", "stranger", lambda w: w.s("provider").stake(ETHER),
                      lambda w, _: w.bad_s("stranger").lock(w.addr("provider"), 1),
                      lambda w, _: {"caller": w.addr("stranger")}),
    "NotMarket-slash": Case("NotMarket", "stranger", lambda w: w.s("provider").stake(ETHER),
                            lambda w, _: w.bad_s("stranger").slash(w.addr("provider"), 1, w.addr("stranger")),
                            lambda w, _: {"caller": w.addr("stranger")}),
    "ZeroAmount": Case("ZeroAmount", "provider", lambda w: None, lambda w, _: w.bad_s("provider").stake(0)),
    # Only the market may slash, so only its own address reaches the recipient check.
    "ZeroAddress": Case(
        "ZeroAddress", "JobMarket", lambda w: (w.s("provider").stake(ETHER), _fund(w, "JobMarket")),
        lambda w, _: _impersonated_call(w, w.deployed.address("JobMarket"), w.s("stranger").contract, "slash",
                                        w.addr("provider"), 1, ZERO)),
    "InsufficientFreeStake-unstake-locked": Case(
        "InsufficientFreeStake", "provider", lambda w: w.job("running", collateral=ETHER // 2, stake=2 * ETHER),
        lambda w, _: w.bad_s("provider").request_unstake(2 * ETHER),
        {"free": 2 * ETHER - ETHER // 2, "required": 2 * ETHER}),
    # JobMarket never unlocks more than it locked, so only the market's own address can provoke this one.
    "InsufficientLockedStake": Case(
        "InsufficientLockedStake", "JobMarket", lambda w: (w.s("provider").stake(ETHER), _fund(w, "JobMarket")),
        lambda w, _: _impersonated_call(w, w.deployed.address("JobMarket"), w.s("stranger").contract, "unlock",
                                        w.addr("provider"), 1), {"locked": 0, "required": 1}),
    "NothingUnbonding": Case("NothingUnbonding", "provider", lambda w: w.s("provider").stake(ETHER),
                             lambda w, _: w.bad_s("provider").withdraw_unstaked(),
                             lambda w, _: {"provider": w.addr("provider")}),
    "StillUnbonding": Case("StillUnbonding", "provider",
                           lambda w: (w.s("provider").stake(ETHER), w.s("provider").request_unstake(ETHER)),
                           lambda w, _: w.bad_s("provider").withdraw_unstaked()),
    "NothingToWithdraw": Case("NothingToWithdraw", "stranger", lambda w: None,
                              lambda w, _: w.bad_s("stranger").withdraw_credit(),
                              lambda w, _: {"account": w.addr("stranger")}),
    "StakeTooLarge": Case("StakeTooLarge", "stranger", _fund_huge, lambda w, _: w.bad_s("stranger").stake(2**88),
                          {"total": 2**88}),
    "TransferFailed": Case(
        "TransferFailed", "provider",
        lambda w: (w.s("provider").stake(ETHER), w.s("provider").request_unstake(ETHER),
                   w.anvil.increase_time(w.p["unbonding_period_s"] + 1),
                   w.anvil.rpc("anvil_setCode", [w.addr("provider"), REJECT_ETH])),
        lambda w, _: w.bad_s("provider").withdraw_unstaked(),
        lambda w, _: {"to": w.addr("provider"), "amount": ETHER}),
    "UnbondingPeriodTooLong": Case("UnbondingPeriodTooLong", "deployer", lambda w: None,
                                   lambda w, _: w.bad_s("deployer").set_unbonding_period(91 * 24 * 3600),
                                   {"period": 91 * 24 * 3600, "max": 90 * 24 * 3600}),
}

ALL_CASES = {f"JobMarket.{k}": v for k, v in MARKET_CASES.items()} | {
    f"StakeManager.{k}": v for k, v in STAKE_CASES.items()}


# Accounts that change whenever a block is mined, whatever it holds: the fee recipient, and the EIP-4788
# beacon-roots and EIP-2935 block-hash system contracts (written by the block itself).
_BLOCK_TOUCHED = {
    "0x0000000000000000000000000000000000000000",
    "0x000f3df6d732807ef1319fb7b8bb8522d0beac02",
    "0x0000f90827f1c53a10cb7a02335b175320002935",
}


def _world_state(anvil: AnvilProcess) -> dict[str, dict[str, Any]]:
    """Every account's nonce, balance, code and storage (anvil_dumpState): "nothing changed" in the strict sense."""
    raw = str(anvil.rpc("anvil_dumpState"))
    accounts = json.loads(gzip.decompress(bytes.fromhex(raw.removeprefix("0x"))))["accounts"]
    return {
        addr.lower(): {"nonce": int(acc["nonce"]), "balance": int(acc["balance"], 16), "code": acc["code"],
                       "storage": {k: v for k, v in acc["storage"].items() if int(v, 16) != 0}}
        for addr, acc in accounts.items() if addr.lower() not in _BLOCK_TOUCHED
    }


@pytest.mark.parametrize("mode", ["estimate", "mined"])
@pytest.mark.parametrize("case_id", list(ALL_CASES))
def test_bad_call_raises_named_error_and_changes_nothing(case_id, mode, anvil, deployed, roles, w3):
    case = ALL_CASES[case_id]
    w = World(anvil, deployed, roles)
    ctx = case.setup(w)
    before = _world_state(anvil)
    w.settings = SenderSettings(gas_limit=FORCED_GAS) if mode == "mined" else None
    expected_cls = getattr(errors, case.error)

    with pytest.raises(errors.ContractRevert) as info:
        case.call(w, ctx)

    exc = info.value
    assert type(exc) is expected_cls, f"{case_id}: got {exc!r}"
    assert exc.error_name == case.error
    after = _world_state(anvil)
    if mode == "estimate":
        assert exc.tx_hash is None  # caught before anything was signed or sent
        values = case.values(w, ctx) if callable(case.values) else case.values
        for key, value in (values or {}).items():
            assert exc.values[key] == value, f"{case_id}: {key}={exc.values[key]!r}, expected {value!r}"
    else:
        # Mined and reverted: the caller paid gas and burnt a nonce, nothing else moved.
        assert exc.tx_hash is not None
        receipt = w3.eth.get_transaction_receipt(exc.tx_hash)
        assert receipt["status"] == 0
        payer = receipt["from"].lower()
        caller = w.deployed.address(case.caller) if case.caller in w.deployed.contracts else w.addr(case.caller)
        assert payer == caller.lower()
        before[payer]["balance"] -= receipt["gasUsed"] * receipt["effectiveGasPrice"]
        before[payer]["nonce"] += 1
    assert after == before


def test_every_custom_error_of_the_market_contracts_is_exercised():
    declared = {e["name"] for c in ("StakeManager", "JobMarket") for e in artifacts.load(c).errors()}
    exercised = {c.error for c in ALL_CASES.values()}
    assert declared - exercised == set(), f"custom errors without a bad-call test: {sorted(declared - exercised)}"


def test_revert_decodes_error_string_and_panic():
    from eth_abi import encode
    from eth_utils import keccak

    e = errors.decode_revert(keccak(text="Error(string)")[:4] + encode(["string"], ["boom"]))
    assert isinstance(e, errors.RevertWithReason) and e.reason == "boom"
    p = errors.decode_revert(keccak(text="Panic(uint256)")[:4] + encode(["uint256"], [0x11]))
    assert isinstance(p, errors.Panic) and p.code == 0x11
    u = errors.decode_revert(b"\xde\xad\xbe\xef")
    assert isinstance(u, errors.UnknownRevert)

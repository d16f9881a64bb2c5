"""Typed client of StakeManager: provider stake, unbonding, credits, and the admin/role entry points."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3 import Web3

from chain.contract import BoundContract
from chain.deploy import Deployment
from chain.sender import Sender, SenderSettings, TxReceipt, make_web3


@dataclass(frozen=True)
class Unbonding:
    amount: int
    release_at: int  # unix seconds; withdrawUnstaked works once block.timestamp ≥ release_at


@dataclass(frozen=True)
class Eligibility:
    """What JobMarket.assign checks: free stake covers the collateral, free + locked (`staked`) ≥ min_stake."""

    free: int
    staked: int
    min_stake: int


@dataclass(frozen=True)
class StakeBalance:
    """free (lockable, unstakeable) and locked (collateral of running jobs) stake."""

    free: int
    locked: int


class StakeManager:
    """StakeManager at `address`, signing as `sender`'s account. Amounts are wei (int)."""

    def __init__(self, address: str, sender: Sender) -> None:
        self.contract = BoundContract("StakeManager", address, sender)
        self.sender = sender

    @classmethod
    def connect(
        cls,
        deployment: Deployment,
        w3: Web3 | str,
        private_key: str,
        settings: SenderSettings | None = None,
    ) -> StakeManager:
        web3 = make_web3(w3) if isinstance(w3, str) else w3
        return cls(deployment.address("StakeManager"), Sender(web3, private_key, settings, deployment.decoder()))

    @property
    def address(self) -> str:
        return self.contract.address

    @property
    def account(self) -> str:
        return self.sender.address

    def _tx(self, fn: str, *args: Any, value: int = 0) -> TxReceipt:
        return self.contract.transact(fn, *args, value=value)

    # ------------------------------------------------------------------ providers
    def stake(self, amount_wei: int) -> TxReceipt:
        return self._tx("stake", value=amount_wei)

    def request_unstake(self, amount_wei: int) -> TxReceipt:
        return self._tx("requestUnstake", amount_wei)

    def withdraw_unstaked(self) -> TxReceipt:
        return self._tx("withdrawUnstaked")

    def withdraw_credit(self) -> TxReceipt:
        return self._tx("withdrawCredit")

    # ------------------------------------------------------------------ roles (market / game only on-chain)
    def lock(self, provider: str, amount_wei: int) -> TxReceipt:
        return self._tx("lock", provider, amount_wei)

    def unlock(self, provider: str, amount_wei: int) -> TxReceipt:
        return self._tx("unlock", provider, amount_wei)

    def release(self, provider: str, unlock_wei: int, payout_wei: int = 0) -> TxReceipt:
        """Market-only: unlock collateral and credit the attached payout."""
        return self._tx("release", provider, unlock_wei, value=payout_wei)

    def forfeit(self, provider: str, amount_wei: int, to: str) -> TxReceipt:
        return self._tx("forfeit", provider, amount_wei, to)

    def slash(self, provider: str, amount_wei: int, to: str) -> TxReceipt:
        """Market-only on-chain (it slashes when a game it opened proves a result wrong); for role-check tests."""
        return self._tx("slash", provider, amount_wei, to)

    # ------------------------------------------------------------------ admin
    def set_unbonding_period(self, seconds: int) -> TxReceipt:
        return self._tx("setUnbondingPeriod", seconds)

    # ------------------------------------------------------------------ reads
    def free_stake_of(self, provider: str) -> int:
        return int(self.contract.call("freeStakeOf", provider))

    def locked_stake_of(self, provider: str) -> int:
        return int(self.contract.call("lockedStakeOf", provider))

    def unbonding_of(self, provider: str) -> Unbonding:
        amount, release_at = self.contract.call("unbondingOf", provider)
        return Unbonding(int(amount), int(release_at))

    def credit_of(self, account: str) -> int:
        return int(self.contract.call("creditOf", account))

    def stake_of(self, provider: str) -> StakeBalance:
        free, locked = self.contract.call("stakeOf", provider)
        return StakeBalance(int(free), int(locked))

    def eligibility(self, provider: str) -> Eligibility:
        """Stake plus the market's minimum, as assign sees them (two calls; not atomic across blocks)."""
        b = self.stake_of(provider)
        return Eligibility(free=b.free, staked=b.free + b.locked, min_stake=self.min_stake())

    def min_stake(self) -> int:
        """The minimum bonded stake to be assigned: a JobMarket parameter, read from this manager's market."""
        market = BoundContract("JobMarket", self.market(), self.sender)
        return int(market.call("params")["minStake"])

    def unbonding_period(self) -> int:
        return int(self.contract.call("unbondingPeriod"))

    def market(self) -> str:
        return str(self.contract.call("market"))

    def admin(self) -> str:
        return str(self.contract.call("admin"))

"""Where every wei on a devnet is: each party's wallet, credits and stake, the contracts' balances, gas spent —
snapshots to narrate balances before/after (the demo) and to check conservation (the e2e tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address


@dataclass(frozen=True)
class Holdings:
    """One account's wei: in its wallet, claimable from the contracts, and staked."""

    wallet: int
    market_credit: int
    stake_credit: int
    free_stake: int
    locked_stake: int
    unbonding: int

    @property
    def in_contracts(self) -> int:
        return self.market_credit + self.stake_credit + self.free_stake + self.locked_stake + self.unbonding

    @property
    def total(self) -> int:
        return self.wallet + self.in_contracts


@dataclass(frozen=True)
class Snapshot:
    block: int
    holdings: dict[str, Holdings]  # name -> holdings
    contracts: dict[str, int]  # contract name -> its ether balance
    addresses: dict[str, str] = field(default_factory=dict)


class Ledger:
    """Reads the devnet's parties (name → address) on its deployment; never signs anything."""

    def __init__(self, rpc: str, deployment: Any, parties: dict[str, str]) -> None:
        from eth_account import Account

        from chain.job_market import JobMarket
        from chain.sender import make_web3
        from chain.stake_manager import StakeManager

        self.w3 = make_web3(rpc)
        reader = Account.create().key.hex()  # a throwaway signer: only view calls are made
        self.market = JobMarket.connect(deployment, self.w3, reader)
        self.stake = StakeManager.connect(deployment, self.w3, reader)
        self.deployment = deployment
        self.parties = {n: to_checksum_address(a) for n, a in parties.items()}

    @classmethod
    def for_devnet(cls, state: Any) -> Ledger:
        from chain.deploy import Deployment

        dep = Deployment.from_file(Path(state.deployment))
        return cls(state.rpc, dep, {n: a.address for n, a in state.accounts.items()})

    def holdings(self, address: str, block: int | str = "latest") -> Holdings:
        # Reads at "latest" (views have no block argument); callers snapshot while nothing moves, or accept drift.
        unb = self.stake.unbonding_of(address)
        return Holdings(
            wallet=int(self.w3.eth.get_balance(to_checksum_address(address), block)),  # type: ignore[arg-type]
            market_credit=self.market.credit_of(address),
            stake_credit=self.stake.credit_of(address),
            free_stake=self.stake.free_stake_of(address),
            locked_stake=self.stake.locked_stake_of(address),
            unbonding=unb.amount,
        )

    def snapshot(self) -> Snapshot:
        block = int(self.w3.eth.block_number)
        return Snapshot(
            block=block,
            holdings={n: self.holdings(a, block) for n, a in self.parties.items()},
            contracts={n: int(self.w3.eth.get_balance(a, block)) for n, a in self.deployment.contracts.items()},
            addresses=dict(self.parties),
        )

    def gas_spent(self, from_block: int, to_block: int) -> dict[str, int]:
        """Fees each party paid for transactions mined in (from_block, to_block]."""
        by_addr = {a: n for n, a in self.parties.items()}
        spent = {n: 0 for n in self.parties}
        for b in range(from_block + 1, to_block + 1):
            block = self.w3.eth.get_block(b, full_transactions=True)
            txs: list[Any] = list(block["transactions"])  # full transactions: dicts, not hashes
            for tx in txs:
                name = by_addr.get(to_checksum_address(tx["from"]))
                if name is None:
                    continue
                r = self.w3.eth.get_transaction_receipt(tx["hash"])
                spent[name] += int(r["gasUsed"]) * int(r["effectiveGasPrice"])
        return spent

    def net_changes(self, before: Snapshot, after: Snapshot) -> dict[str, int]:
        """Each party's change in wei, gas added back: what it won or lost in the market, to the wei."""
        gas = self.gas_spent(before.block, after.block)
        return {n: after.holdings[n].total - before.holdings[n].total + gas[n] for n in self.parties}

    def unaccounted(self, before: Snapshot, after: Snapshot) -> int:
        """Wei that entered or left the contracts but no party's holdings explain (0 when nothing is lost).

        Every wei a party sent in or took out moved its wallet; every wei the contracts hold is a party's
        credit or stake, or escrow of a job still in flight (returned by `in_flight`).
        """
        gas = self.gas_spent(before.block, after.block)
        wallets = sum(after.holdings[n].wallet - before.holdings[n].wallet + gas[n] for n in self.parties)
        contracts = sum(after.contracts.values()) - sum(before.contracts.values())
        return wallets + contracts

    def liabilities_gap(self, snap: Snapshot) -> int:
        """Contract balances minus what the parties can claim from them: escrow and bonds still in flight
        (0 once every job and dispute has ended)."""
        claims = sum(h.in_contracts for h in snap.holdings.values())
        return sum(snap.contracts.values()) - claims

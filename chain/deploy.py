"""Deploys and wires StakeManager, JobMarket and (when compiled) DisputeGame; records deployments/<chainId>.json.

Order: JobMarket(params, matcher, treasury, unbondingPeriod), whose constructor deploys the StakeManager
(`JobMarket.stakeManager()`) → DisputeGame(market, referee, k, clock, refereeTimeout, challengerRewardBps)
→ JobMarket.setGame(game). Only the market moves stake (it slashes for the games it opened), so the StakeManager
needs no game address and no later `setGame` can strand a live game.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address

from chain import artifacts
from chain.contract import BoundContract, deploy_contract
from chain.errors import DeploymentNotFound
from chain.events import EventDecoder
from chain.sender import Sender, SenderSettings, make_web3

REPO_ROOT = Path(__file__).resolve().parent.parent
DEPLOYMENTS_DIR = REPO_ROOT / "deployments"
ETHER = 10**18


@dataclass(frozen=True)
class DeployParams:
    """Every constructor/wiring parameter. Role addresses left None default to the deployer."""

    # StakeManager
    unbonding_period_s: int = 7 * 24 * 3600
    # JobMarket (IJobMarket.Params); min stake is a whole number of gwei
    min_stake_wei: int = ETHER // 10
    accept_timeout_s: int = 3600
    challenge_window_s: int = 24 * 3600
    protocol_fee_bps: int = 250
    forfeit_bps: int = 5_000
    dispute_cut_bps: int = 1_000
    challenger_bond_wei: int = ETHER // 100  # the bond's floor
    # bond = max(floor, (price + collateral) * bond_bps / 1e4): griefing a job costs in proportion to what it locks
    bond_bps: int = 1_000
    min_collateral_wei: int = ETHER // 1000  # the collateral floor per job (> 0: cheating must risk something)
    liveness_window_s: int = 6 * 3600  # a Running job's provider heartbeats at least this often
    stall_forfeit_bps: int = 2_000  # what a silent provider forfeits to the client on reclaimStalled
    abandon_forfeit_bps: int = 100  # what a provider forfeits to the client when it abandons a job it cannot run
    # DisputeGame; k = 8 was the cheapest in `agora bench dispute` (65,536 steps x 1,024 ops)
    k: int = 8
    # Each party's chess clock: its total time budget for a whole game (not per move). The longest game is
    # 2 clocks + the referee window, whatever the trace size.
    move_timeout_s: int = 3 * 24 * 3600
    referee_timeout_s: int = 2 * 24 * 3600
    challenger_reward_bps: int = 5_000
    # roles
    matcher: str | None = None
    treasury: str | None = None
    referee: str | None = None

    @classmethod
    def devnet(cls, **overrides: Any) -> DeployParams:
        """Short clocks (a minute or two) so tests and the local devnet can time-travel cheaply."""
        base = cls(
            min_stake_wei=ETHER // 10,
            unbonding_period_s=120,
            accept_timeout_s=60,
            challenge_window_s=60,
            challenger_bond_wei=ETHER // 100,
            bond_bps=0,  # the flat floor on the devnet: tests and the demo reason about one bond
            min_collateral_wei=10**9,
            liveness_window_s=60,
            move_timeout_s=300,  # each party's whole-game clock (real services answer in seconds per round)
            referee_timeout_s=120,
        )
        return replace(base, **overrides)

    @classmethod
    def testnet(cls, **overrides: Any) -> DeployParams:
        """Public-testnet clocks: hours to days, so real operators can react."""
        return replace(cls(), **overrides)

    def market_params(self) -> dict[str, int]:
        return {
            "acceptTimeout": self.accept_timeout_s,
            "challengeWindow": self.challenge_window_s,
            "protocolFeeBps": self.protocol_fee_bps,
            "forfeitBps": self.forfeit_bps,
            "disputeCutBps": self.dispute_cut_bps,
            "challengerBond": self.challenger_bond_wei,
            "minStake": self.min_stake_wei,
            "bondBps": self.bond_bps,
            "minCollateral": self.min_collateral_wei,
            "livenessWindow": self.liveness_window_s,
            "stallForfeitBps": self.stall_forfeit_bps,
            "abandonForfeitBps": self.abandon_forfeit_bps,
        }

    @property
    def clock_s(self) -> int:
        """Each party's whole-game time budget (the DisputeGame's `clock`); stored as `move_timeout_s`."""
        return self.move_timeout_s

    def with_roles(self, deployer: str) -> DeployParams:
        return replace(
            self,
            matcher=to_checksum_address(self.matcher or deployer),
            treasury=to_checksum_address(self.treasury or deployer),
            referee=to_checksum_address(self.referee or deployer),
        )


@dataclass(frozen=True)
class Deployment:
    """Where the contracts of one chain live; what deployments/<chainId>.json holds."""

    chain_id: int
    contracts: dict[str, str]
    deploy_block: int
    params: dict[str, Any]
    deployer: str
    path: Path | None = field(default=None, compare=False)

    def address(self, name: str) -> str:
        try:
            return self.contracts[name]
        except KeyError:
            raise DeploymentNotFound(f"{name} is not part of the deployment on chain {self.chain_id}") from None

    def has(self, name: str) -> bool:
        return name in self.contracts

    def decoder(self) -> EventDecoder:
        """An event decoder that knows which contract emitted what."""
        return EventDecoder({a: n for n, a in self.contracts.items()})

    def to_json(self) -> dict[str, Any]:
        return {
            "chainId": self.chain_id,
            "contracts": dict(self.contracts),
            "deployBlock": self.deploy_block,
            "params": dict(self.params),
            "deployer": self.deployer,
        }

    def save(self, out_dir: Path = DEPLOYMENTS_DIR) -> Path:
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{self.chain_id}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n")
        tmp.replace(path)  # atomic: a reader never sees half a file
        return path

    @classmethod
    def from_file(cls, path: Path) -> Deployment:
        if not path.exists():
            raise DeploymentNotFound(f"no deployment file {path}: run `agora contracts deploy`")
        raw = json.loads(path.read_text())
        return cls(
            chain_id=int(raw["chainId"]),
            contracts={n: to_checksum_address(a) for n, a in raw["contracts"].items()},
            deploy_block=int(raw["deployBlock"]),
            params=dict(raw.get("params", {})),
            deployer=to_checksum_address(raw["deployer"]),
            path=path,
        )

    @classmethod
    def load(cls, chain_id: int, directory: Path = DEPLOYMENTS_DIR) -> Deployment:
        """deployments/<chain_id>.json."""
        return cls.from_file(directory / f"{chain_id}.json")


def deploy(
    rpc_url: str,
    private_key: str,
    params: DeployParams | None = None,
    *,
    out_dir: Path | None = DEPLOYMENTS_DIR,
    settings: SenderSettings | None = None,
) -> Deployment:
    """Deploys everything compiled, wires the roles, writes out_dir/<chainId>.json (out_dir None: no file)."""
    sender = Sender(make_web3(rpc_url), private_key, settings)
    p = (params or DeployParams.devnet()).with_roles(sender.address)
    chain_id = sender.chain_id

    # JobMarket's constructor deploys its StakeManager (market immutable there; admin = our deployer).
    market_addr, first = deploy_contract(
        "JobMarket", sender, p.market_params(), p.matcher, p.treasury, p.unbonding_period_s
    )
    market = BoundContract("JobMarket", market_addr, sender)
    stake_addr = str(market.call("stakeManager"))
    contracts = {"StakeManager": stake_addr, "JobMarket": market_addr}

    if artifacts.exists("DisputeGame"):
        game_addr, _ = deploy_contract(
            "DisputeGame", sender, market_addr, p.referee, p.k, p.move_timeout_s, p.referee_timeout_s,
            p.challenger_reward_bps,
        )
        contracts["DisputeGame"] = game_addr
        market.transact("setGame", game_addr)

    deployment = Deployment(
        chain_id=chain_id,
        contracts=contracts,
        deploy_block=first.block_number,
        params={f.name: getattr(p, f.name) for f in fields(p)},
        deployer=sender.address,
    )
    if out_dir is not None:
        path = deployment.save(out_dir)
        deployment = replace(deployment, path=path)
    return deployment


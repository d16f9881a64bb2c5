"""`agora provider stake|unstake|withdraw|status`: a provider's stake and earnings, straight on-chain."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from agora.credits import withdraw_credits
from agora.output import CliError, FriendlyGroup, echo_json, ether, fields, parse_amount, when

PROVIDER_KEY_ENV = "AGORA_PROVIDER_KEY"

rpc_option = click.option("--rpc", metavar="URL", help="chain RPC (default: the running devnet's, else $AGORA_RPC_URL)")
deployment_option = click.option(
    "--deployment", type=click.Path(path_type=Path), metavar="FILE",
    help="deployments/<chainId>.json (default: the devnet's, else $AGORA_DEPLOYMENT_FILE, else the repo's)",
)
key_option = click.option(
    "--key-file", type=click.Path(path_type=Path), metavar="KEY",
    help=f"the provider's key file (default: ${PROVIDER_KEY_ENV}, else the running devnet's worker-1 key)",
)
json_option = click.option("--json", "as_json", is_flag=True, help="machine-readable output")


@dataclass
class Chain:
    """The contracts of one deployment, signing as one key."""

    rpc: str
    deployment: Any
    stake: Any
    market: Any
    address: str


def connect(rpc: str | None, deployment: Path | None, private_key: str) -> Chain:
    """Clients of StakeManager and JobMarket; refuses an RPC on another chain than the deployment's."""
    from agora.devnet.state import endpoints
    from chain.deploy import Deployment
    from chain.job_market import JobMarket
    from chain.sender import make_web3
    from chain.stake_manager import StakeManager

    ep = endpoints(rpc=rpc, deployment=deployment)
    if not ep.rpc:
        raise CliError("no chain RPC: run `agora devnet up`, pass --rpc URL or set AGORA_RPC_URL")
    w3 = make_web3(ep.rpc)
    try:
        chain_id = int(w3.eth.chain_id)
    except Exception:  # noqa: BLE001 - any failure to ask means the node is not there
        raise CliError(f"cannot reach the chain RPC at {ep.rpc}: check --rpc or run `agora devnet up`") from None
    dep = Deployment.from_file(ep.deployment) if ep.deployment else Deployment.load(chain_id)
    if dep.chain_id != chain_id:
        raise CliError(f"wrong network: {ep.rpc} is chain {chain_id} but the deployment is for chain {dep.chain_id}: "
                       "pass the matching --rpc or --deployment")
    if not w3.eth.get_code(dep.address("StakeManager")):  # type: ignore[arg-type]
        raise CliError(f"wrong network: no StakeManager at {dep.address('StakeManager')} on {ep.rpc}: "
                       "redeploy (`agora contracts deploy`) or pass the right --deployment")
    return Chain(
        rpc=ep.rpc, deployment=dep,
        stake=StakeManager.connect(dep, w3, private_key),
        market=JobMarket.connect(dep, w3, private_key),
        address=StakeManager.connect(dep, w3, private_key).account,
    )


def provider_key(key_file: Path | None):  # type: ignore[no-untyped-def]
    from agora.devnet.state import DevnetState
    from agora.keys import load_key

    state = DevnetState.load()
    return load_key(key_file, PROVIDER_KEY_ENV, fallback_file=state.key_file("worker-1") if state else None,
                    role="provider")


def market_min_stake(chain: Chain) -> int:
    """The bonded stake JobMarket.assign requires (`minStake()`; the Params field on older markets)."""
    w3 = chain.market.sender.w3
    raw = b""
    with contextlib.suppress(Exception):  # an older market without the view
        raw = bytes(w3.eth.call({"to": chain.market.address, "data": "0x375b3c0a"}))  # keccak256("minStake()")[:4]
    if raw:
        return int.from_bytes(raw[-32:], "big")
    try:
        return int(chain.market.params().min_stake)
    except Exception:  # noqa: BLE001 - unreadable: no minimum to warn about
        return 0


def snapshot(chain: Chain, address: str) -> dict[str, Any]:
    s, m = chain.stake, chain.market
    unb = s.unbonding_of(address)
    return {
        "address": address,
        "chain_id": chain.deployment.chain_id,
        "wallet_wei": str(s.sender.w3.eth.get_balance(address)),
        "free_stake_wei": str(s.free_stake_of(address)),
        "locked_stake_wei": str(s.locked_stake_of(address)),
        "unbonding_wei": str(unb.amount),
        "unbonding_release_at": unb.release_at or None,
        "stake_credit_wei": str(s.credit_of(address)),
        "market_credit_wei": str(m.credit_of(address)),
        # StakeManager dropped its global minimum once eligibility moved to per-job collateral.
        "min_stake_wei": str(s.min_stake()) if hasattr(s, "min_stake") else None,
    }


@click.group(cls=FriendlyGroup)
def group() -> None:
    """Stake to become eligible for jobs, unstake (after an unbonding period), withdraw earnings and stake."""


@group.command()
@click.argument("amount")
@key_option
@rpc_option
@deployment_option
@json_option
def stake(amount: str, key_file: Path | None, rpc: str | None, deployment: Path | None, as_json: bool) -> None:
    """Add AMOUNT (e.g. 1ether) to your stake in StakeManager."""
    wei = parse_amount(amount)
    key = provider_key(key_file)
    chain = connect(rpc, deployment, key.private_key)
    balance = chain.stake.sender.w3.eth.get_balance(key.address)
    if balance < wei:
        raise CliError(f"{key.address} holds {ether(balance)}, less than {ether(wei)}: fund it or stake less")
    receipt = chain.stake.stake(wei)
    minimum = market_min_stake(chain)
    bonded = chain.stake.free_stake_of(key.address) + chain.stake.locked_stake_of(key.address)
    note = None
    if bonded < minimum:
        note = (f"warning: your bonded stake {ether(bonded)} is below the market's minimum stake {ether(minimum)}: "
                f"you get no jobs until you stake {ether(minimum - bonded)} more")
    _done(chain, key.address, f"staked {ether(wei)}", receipt, as_json, note=note)


@group.command()
@click.argument("amount")
@click.option("--below-minimum", is_flag=True, help="unstake even if what stays bonded is below the minimum stake")
@key_option
@rpc_option
@deployment_option
@json_option
def unstake(amount: str, below_minimum: bool, key_file: Path | None, rpc: str | None, deployment: Path | None,
            as_json: bool) -> None:
    """Start unbonding AMOUNT of free stake; `withdraw` pays it out once the unbonding period has passed."""
    wei = parse_amount(amount)
    key = provider_key(key_file)
    chain = connect(rpc, deployment, key.private_key)
    free = chain.stake.free_stake_of(key.address)
    if free < wei:
        raise CliError(f"insufficient free stake: {ether(free)} free, asked to unstake {ether(wei)} "
                       "(locked stake unlocks when its jobs end): unstake less")
    minimum = market_min_stake(chain)
    bonded = free + chain.stake.locked_stake_of(key.address)
    left = bonded - wei
    if 0 < left < minimum and not below_minimum:
        raise CliError(f"unstaking {ether(wei)} leaves {ether(left)} bonded, below the market's minimum stake "
                       f"{ether(minimum)}, so you would get no more jobs: unstake at most "
                       f"{ether(max(0, bonded - minimum))}, all your free stake to leave, or pass --below-minimum")
    receipt = chain.stake.request_unstake(wei)
    _done(chain, key.address, f"unbonding {ether(wei)}", receipt, as_json)


@group.command()
@key_option
@rpc_option
@deployment_option
@json_option
def withdraw(key_file: Path | None, rpc: str | None, deployment: Path | None, as_json: bool) -> None:
    """Pay out everything withdrawable: unbonded stake whose period has ended, and earned credits."""
    key = provider_key(key_file)
    chain = connect(rpc, deployment, key.private_key)
    s, m = chain.stake, chain.market
    paid: dict[str, int] = {}
    receipts = []
    unb = s.unbonding_of(key.address)
    if unb.amount:
        # An automining devnet only stamps time when it mines, so the latest block may be old: the next block
        # (ours) will carry at least the wall clock's time.
        now = max(int(s.sender.w3.eth.get_block("latest")["timestamp"]), int(time.time()))
        if unb.release_at > now:
            if not (s.credit_of(key.address) or m.credit_of(key.address)):
                raise CliError(f"{ether(unb.amount)} is still unbonding until {_ts(unb.release_at)} "
                               f"({unb.release_at - now}s from now): run withdraw again then")
        else:
            receipts.append(s.withdraw_unstaked())
            paid["unbonded stake"] = unb.amount
    credits, credit_receipts = withdraw_credits(chain, key.address)
    paid.update(credits)
    receipts += credit_receipts
    if not paid:
        raise CliError("nothing to withdraw: no ended unbonding and no payouts or credits "
                       "(`agora provider status` shows all three)")
    what = ", ".join(f"{ether(v)} {k}" for k, v in paid.items())
    _done(chain, key.address, f"withdrew {what}", receipts[-1], as_json, extra={"paid_wei": {k: str(v) for k, v in
                                                                                             paid.items()}})


def _ts(unix: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(unix))


def _done(chain: Chain, address: str, what: str, receipt: Any, as_json: bool, extra: dict | None = None,
          note: str | None = None) -> None:
    snap = snapshot(chain, address)
    if as_json:
        echo_json({"tx": receipt.tx_hash, "block": receipt.block_number, **(extra or {}), "provider": snap,
                   **({"warning": note} if note else {})})
        return
    click.echo(f"{what} (tx {receipt.tx_hash})")
    if note:
        click.echo(note, err=True)
    click.echo(f"free {ether(snap['free_stake_wei'])} · locked {ether(snap['locked_stake_wei'])} · "
               f"unbonding {ether(snap['unbonding_wei'])}")


@group.command()
@click.argument("address", required=False)
@key_option
@rpc_option
@deployment_option
@click.option("--coordinator", metavar="URL", help="also show the coordinator's view (default: the devnet's)")
@json_option
def status(address: str | None, key_file: Path | None, rpc: str | None, deployment: Path | None,
           coordinator: str | None, as_json: bool) -> None:
    """Show a provider's stake (free, locked, unbonding), credits and wallet; ADDRESS defaults to your key's."""
    from eth_utils import is_address, to_checksum_address

    if address is not None:
        if not is_address(address):
            raise CliError(f"{address!r} is not an address: pass 0x followed by 40 hex digits")
        address = to_checksum_address(address)
        # Reads need no key of the provider's own; any dev-free throwaway key signs nothing here.
        from eth_account import Account

        signer = Account.create().key.hex()
    else:
        key = provider_key(key_file)
        address, signer = key.address, key.private_key
    chain = connect(rpc, deployment, signer)
    snap = snapshot(chain, address)
    seen = _coordinator_view(coordinator, address)
    if as_json:
        echo_json({**snap, "coordinator": seen})
        return
    fields([
        ("provider", address), ("wallet", ether(snap["wallet_wei"])),
        ("free stake", ether(snap["free_stake_wei"])), ("locked stake", ether(snap["locked_stake_wei"])),
        ("unbonding", ether(snap["unbonding_wei"]) + (f" (withdrawable from {_ts(snap['unbonding_release_at'])})"
                                                      if snap["unbonding_release_at"] else "")),
        ("payouts", f"{ether(snap['market_credit_wei'])} JobMarket credit (job payouts, returned bonds)"),
        ("slash credit", f"{ether(snap['stake_credit_wei'])} StakeManager credit (your share of slashes/forfeits)"),
        *([("min stake", ether(snap["min_stake_wei"]))] if snap["min_stake_wei"] else []),
        ("coordinator", "unreachable" if seen is None else "never heard of it (no heartbeat yet)"
         if not seen.get("address") else
         f"{'alive' if seen.get('alive') else 'not alive'}, last heartbeat {when(seen.get('last_heartbeat_at'))}"),
    ])


def _coordinator_view(url: str | None, address: str) -> dict[str, Any] | None:
    from agora.devnet.state import endpoints
    from client.api import ApiError, CoordinatorClient

    base = endpoints(coordinator=url).coordinator
    if not base:
        return None
    try:
        with CoordinatorClient(base, retries=0, timeout_s=5) as api:
            return api.provider(address)
    except ApiError as exc:
        return {"known": False} if exc.status == 404 else None

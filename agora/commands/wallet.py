"""`agora wallet status|withdraw`: what a client (or anyone) is owed by the market and how to collect it.

Refunds (a cancelled, expired or failed job's price), returned challenger bonds and provider payouts land as a
JobMarket credit; what a silent or abandoning provider forfeits to its client, and slash rewards, as a StakeManager
credit (pull payments, DESIGN §2). `withdraw` sends both to the wallet. Stake itself is `agora provider`'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from agora.commands.jobs import client_key, coordinator_url, key_option
from agora.commands.provider import Chain, connect, deployment_option, json_option, rpc_option
from agora.credits import withdraw_credits
from agora.output import CliError, FriendlyGroup, echo_json, ether, fields

REFUNDED = ("cancelled", "expired", "failed")


@click.group(cls=FriendlyGroup)
def group() -> None:
    """Your wallet and your JobMarket credit (refunds, returned bonds, earnings); withdraw the credit."""


def refunds(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Jobs whose escrowed price went back to the client's credit (funded on-chain, then ended unpaid)."""
    return [j for j in jobs if j["status"] in REFUNDED and j.get("chain_job_id") is not None]


def cancellable(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [j for j in jobs if j["status"] in ("awaiting_funding", "open", "assigned")]


def _jobs_of(coordinator: str | None, address: str) -> list[dict[str, Any]] | None:
    from client.api import ApiError, CoordinatorClient

    try:
        with CoordinatorClient(coordinator_url(coordinator), retries=1, timeout_s=10) as api:
            return list(api.jobs(client=address))
    except (ApiError, CliError):
        return None  # the chain alone still says what is owed


def _snapshot(chain: Chain, address: str) -> dict[str, Any]:
    return {"address": address, "wallet_wei": str(chain.market.sender.w3.eth.get_balance(address)),
            "market_credit_wei": str(chain.market.credit_of(address)),
            "stake_credit_wei": str(chain.stake.credit_of(address))}


@group.command()
@key_option
@rpc_option
@deployment_option
@click.option("--coordinator", metavar="URL", help="coordinator URL for your jobs (default: the devnet's)")
@json_option
def status(key_file: Path | None, rpc: str | None, deployment: Path | None, coordinator: str | None,
           as_json: bool) -> None:
    """Your wallet balance, the credit the market owes you, and which of your jobs it came from."""
    key = client_key(key_file)
    chain = connect(rpc, deployment, key.private_key)
    snap = _snapshot(chain, key.address)
    jobs = _jobs_of(coordinator, key.address)
    back = refunds(jobs or [])
    open_ = cancellable(jobs or [])
    if as_json:
        echo_json({**snap, "refunded_jobs": [{"id": j["id"], "price_wei": j["price_wei"], "status": j["status"]}
                                             for j in back],
                   "cancellable_jobs": [j["id"] for j in open_]})
        return
    credit = int(snap["market_credit_wei"]) + int(snap["stake_credit_wei"])
    fields([
        ("address", key.address), ("wallet", ether(snap["wallet_wei"])),
        ("owed to you", ether(credit) + (" — collect it with `agora wallet withdraw`" if credit else "")),
        ("  JobMarket credit", ether(snap["market_credit_wei"]) + " (refunds, returned bonds, payouts)"),
        ("  StakeManager credit", ether(snap["stake_credit_wei"]) + " (forfeits of silent providers, slash rewards)"),
        ("refunds", ", ".join(f"job {j['id']} ({j['status']}) {ether(j['price_wei'])}" for j in back) or None),
        ("cancellable", ", ".join(f"job {j['id']} ({j['status']})" for j in open_) +
         " — `agora jobs cancel ID` refunds the price" if open_ else None),
    ])


@group.command()
@key_option
@rpc_option
@deployment_option
@json_option
def withdraw(key_file: Path | None, rpc: str | None, deployment: Path | None, as_json: bool) -> None:
    """Send everything you are owed (refunds, returned bonds, earnings, forfeits paid to you) to your wallet."""
    key = client_key(key_file)
    chain = connect(rpc, deployment, key.private_key)
    paid, receipts = withdraw_credits(chain, key.address)
    if not paid:
        raise CliError("nothing to withdraw: you are owed no credit (`agora wallet status` shows what you are "
                       "owed; cancel an open job with `agora jobs cancel ID` to get its price back)")
    credit, receipt = sum(paid.values()), receipts[-1]
    snap = _snapshot(chain, key.address)
    if as_json:
        echo_json({"tx": receipt.tx_hash, "block": receipt.block_number, "paid_wei": str(credit), **snap})
        return
    click.echo(f"withdrew {ether(credit)} (tx {receipt.tx_hash}); wallet now {ether(snap['wallet_wei'])}")

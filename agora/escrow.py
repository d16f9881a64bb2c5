"""Retry-safe escrow for `agora jobs submit`: find out whether a job's price is already on-chain before paying it.

A submit is two steps in two systems (REST create, then the client's own `postJob`), so a crash or a second run
can land between them. Before sending `postJob` the CLI asks the chain which JobPosted events this client has
for the same terms, and the coordinator which of them it has already bound to a job. The indexer binds an
escrow to the oldest awaiting_funding job with the same terms, so an unbound escrow belongs to *this* job
exactly when there are more unbound escrows than older awaiting jobs with the same terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

# Statuses of a job that holds (or held) an escrow on-chain: submitting again must not pay again.
FUNDED = ("open", "assigned", "running", "submitted", "disputed", "finalized")


@dataclass(frozen=True)
class PostedEscrow:
    chain_job_id: int
    tx_hash: str
    block_number: int


def same_terms(job: dict[str, Any], other: dict[str, Any]) -> bool:
    """Two coordinator jobs the indexer cannot tell apart when binding an escrow."""
    keys = ("spec_hash", "price_wei", "num_steps", "checkpoint_every")
    return all(str(job.get(k)).lower() == str(other.get(k)).lower() for k in keys)


def posted_escrows(w3: Any, market: str, client: str, terms: dict[str, Any], from_block: int) -> list[PostedEscrow]:
    """JobPosted events of `client` on `market` whose terms equal `terms` (the API's JobTermsPublic)."""
    from chain.events import EventDecoder

    decoder = EventDecoder()
    topic0 = decoder.topic("JobMarket", "JobPosted")
    client_topic = "0x" + bytes.fromhex(client.lower().removeprefix("0x")).rjust(32, b"\0").hex()
    raw = w3.eth.get_logs({
        "address": to_checksum_address(market),
        "fromBlock": from_block,
        "toBlock": "latest",
        "topics": [topic0, None, client_topic],
    })
    out = []
    for ev in decoder.decode_all(raw):
        if ev.name != "JobPosted" or ev.removed:
            continue
        t = ev.args["terms"]
        if ("0x" + bytes(t["specHash"]).hex()).lower() != str(terms["spec_hash"]).lower():
            continue
        if int(t["price"]) != int(terms["price_wei"]) or int(t["numSteps"]) != int(terms["num_steps"]):
            continue
        if int(t["checkpointEvery"]) != int(terms["checkpoint_every"]):
            continue
        out.append(PostedEscrow(int(ev.args["jobId"]), ev.tx_hash, ev.block_number))
    return out


def escrow_already_sent(job: dict[str, Any], client_jobs: list[dict[str, Any]],
                        escrows: list[PostedEscrow]) -> PostedEscrow | None:
    """The on-chain escrow that will fund `job` (awaiting funding), or None when it still has to be sent.

    `client_jobs` are all of this client's coordinator jobs; `escrows` its JobPosted events with the job's terms.
    """
    bound = {int(j["chain_job_id"]) for j in client_jobs if j.get("chain_job_id") is not None}
    unbound = [e for e in escrows if e.chain_job_id not in bound]
    older = [j for j in client_jobs if j["status"] == "awaiting_funding" and same_terms(j, job)
             and int(j["id"]) < int(job["id"])]
    if len(unbound) > len(older):
        return sorted(unbound, key=lambda e: e.chain_job_id)[len(older)]
    return None

"""GET /v1/market (the deployment: chain, contracts, clocks and fees) and /v1/market/records (each provider's
record: jobs done and failed, disputes won and lost) — read-only views the web console draws from."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from coordinator.dependencies import ChainDep, ReadSessionDep, SettingsDep
from coordinator.models import Dispute, Job, JobStatus

router = APIRouter(prefix="/v1/market", tags=["market"])

# Outcome → (defender won, challenger won); both_lose and void count as a loss / nothing for both.
_WINS = {"defender_wins": (True, False), "challenger_wins": (False, True), "both_lose": (False, False)}


class MarketPublic(BaseModel):
    chain_id: int
    confirmations: int
    contracts: dict[str, str] = Field(description="contract name → address")
    params: dict[str, Any] = Field(description="the deployment's parameters (clocks in seconds, bonds in wei)")


class RecordPublic(BaseModel):
    address: str
    jobs_done: int = Field(description="finalized jobs (paid)")
    jobs_failed: int = Field(description="jobs that ended failed (a lost dispute)")
    jobs_active: int = Field(description="assigned, running, submitted or disputed now")
    disputes_won: int
    disputes_lost: int


class RecordsPublic(BaseModel):
    items: list[RecordPublic]


@router.get("", response_model=MarketPublic)
def market(chain: ChainDep, settings: SettingsDep) -> MarketPublic:
    """Where the market lives and its clocks: what a console needs to show deadlines and link transactions."""
    dep = chain.deployment
    params = {k: (str(v) if isinstance(v, int) and abs(v) >= 2**53 else v) for k, v in (dep.params if dep else {}).items()}
    return MarketPublic(
        chain_id=chain.chain_id,
        confirmations=settings.confirmations,
        contracts={k: v.lower() for k, v in chain.addresses.items()},
        params=params,
    )


@router.get("/records", response_model=RecordsPublic)
def records(session: ReadSessionDep) -> RecordsPublic:
    """Every provider's (and challenger's) record, by address."""
    jobs: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = session.execute(
        select(Job.provider, Job.status, func.count()).where(Job.provider.is_not(None)).group_by(Job.provider, Job.status)
    ).all()
    for provider, status, n in rows:
        jobs[provider][status] += int(n)
    won: dict[str, int] = defaultdict(int)
    lost: dict[str, int] = defaultdict(int)
    for defender, challenger, outcome in session.execute(
        select(Dispute.defender, Dispute.challenger, Dispute.outcome).where(Dispute.outcome.is_not(None))
    ).all():
        if outcome not in _WINS:
            continue  # a void game is replayed; it is nobody's win or loss
        d_won, c_won = _WINS[outcome]
        for party, w in ((defender, d_won), (challenger, c_won)):
            if party:
                (won if w else lost)[party] += 1
    active = (JobStatus.ASSIGNED, JobStatus.RUNNING, JobStatus.SUBMITTED, JobStatus.DISPUTED)
    out = []
    for address in sorted(set(jobs) | set(won) | set(lost)):
        counts = jobs.get(address, {})
        out.append(RecordPublic(
            address=address,
            jobs_done=counts.get(JobStatus.FINALIZED, 0),
            jobs_failed=counts.get(JobStatus.FAILED, 0),
            jobs_active=sum(counts.get(s, 0) for s in active),
            disputes_won=won.get(address, 0),
            disputes_lost=lost.get(address, 0),
        ))
    return RecordsPublic(items=out)

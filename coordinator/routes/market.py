"""GET /v1/market (the deployment: chain, contracts, clocks and fees) and /v1/market/records (each provider's
record: jobs done and failed, disputes won and lost) — read-only views the web console draws from."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from coordinator.chain_gateway import jsonable
from coordinator.dependencies import ChainDep, ReadSessionDep, SettingsDep
from coordinator.errors import NotFound, Unprocessable, UpstreamUnavailable, error_responses
from coordinator.models import Dispute, Job, JobStatus, ProgressPoint
from coordinator.routes.jobs import list_jobs
from coordinator.schemas import ADDRESS_PATTERN, MAX_ID

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


class TxEventPublic(BaseModel):
    contract: str
    name: str
    args: dict[str, Any]


class TxPublic(BaseModel):
    hash: str
    block_number: int | None
    sender: str | None
    to: str | None
    value_wei: str
    status: int | None = Field(description="1 success, 0 reverted, null while pending")
    gas_used: int | None
    events: list[TxEventPublic] = Field(description="the market's events it emitted, decoded")


class LatestProgressPublic(BaseModel):
    job_id: int
    latest_step: int
    latest_loss: float


class LatestProgressPage(BaseModel):
    items: list[LatestProgressPublic] = Field(description="only jobs that reported progress")


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


@router.get("/progress", response_model=LatestProgressPage, responses=error_responses(422))
def latest_progress(
    session: ReadSessionDep,
    settings: SettingsDep,
    job_id: Annotated[list[int] | None, Query(max_length=200, description="coordinator job ids (repeat the parameter)")] = None,
    listed: Annotated[int | None, Query(ge=1, le=200, description=(
        "instead of ids: the jobs that GET /v1/jobs lists with this limit and the same status, client, provider and "
        "cursor (so a list page reads its rows and their progress side by side)"))] = None,
    status: Annotated[str | None, Query(description="with listed: as GET /v1/jobs")] = None,
    client: Annotated[str | None, Query(pattern=ADDRESS_PATTERN)] = None,
    provider: Annotated[str | None, Query(pattern=ADDRESS_PATTERN)] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> LatestProgressPage:
    """The latest reported (step, loss) of many jobs in one read: one list page's progress bars."""
    if listed is not None:
        job_id = [j.id for j in list_jobs(session, settings, status=status, client=client, provider=provider,
                                          cursor=cursor, limit=listed).items]
    elif job_id is None:
        raise Unprocessable("name the jobs: job_id (repeated) or listed (with GET /v1/jobs's filters)",
                            details=[{"field": "query.job_id", "message": "required unless listed is given"}])
    ids = sorted({i for i in job_id if 1 <= i <= MAX_ID})
    if not ids:
        return LatestProgressPage(items=[])
    latest = (
        select(ProgressPoint.job_id, func.max(ProgressPoint.step).label("step"))
        .where(ProgressPoint.job_id.in_(ids))
        .group_by(ProgressPoint.job_id)
        .subquery()
    )
    rows = session.execute(
        select(ProgressPoint.job_id, ProgressPoint.step, ProgressPoint.loss).join(
            latest, (ProgressPoint.job_id == latest.c.job_id) & (ProgressPoint.step == latest.c.step)
        )
    ).all()
    return LatestProgressPage(
        items=[LatestProgressPublic(job_id=j, latest_step=s, latest_loss=loss) for j, s, loss in sorted(rows)]
    )


@router.get("/tx/{tx_hash}", response_model=TxPublic, responses=error_responses(404, 422, 503))
def transaction(tx_hash: Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$")], chain: ChainDep) -> TxPublic:
    """One transaction as the chain tells it, with the market's events decoded: the console's tx links land here,
    so a devnet (which has no block explorer) can still show what a move or a payment did."""
    try:
        tx = chain.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - web3 raises TransactionNotFound or an RPC error
        if "not found" in str(exc).lower():
            raise NotFound(f"no transaction {tx_hash} on chain {chain.chain_id}") from None
        raise UpstreamUnavailable(f"the chain did not answer: {exc}") from None
    try:
        receipt = chain.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - pending: no receipt yet
        receipt = None
    known = {a.lower() for a in chain.addresses.values()}
    logs = [lg for lg in (receipt["logs"] if receipt else []) if str(lg["address"]).lower() in known]
    events = [TxEventPublic(contract=e.contract, name=e.name, args=jsonable(e.args)) for e in chain.decoder.decode_all(logs)]
    return TxPublic(
        hash=tx_hash.lower(),
        block_number=tx.get("blockNumber"),
        sender=str(tx["from"]).lower() if tx.get("from") else None,
        to=str(tx["to"]).lower() if tx.get("to") else None,
        value_wei=str(tx.get("value", 0)),
        status=receipt.get("status") if receipt else None,
        gas_used=receipt.get("gasUsed") if receipt else None,
        events=events,
    )

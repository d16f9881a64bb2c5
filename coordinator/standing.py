"""A provider's standing: its record (jobs paid, disputes won and lost, stake slashed) and whether it may be matched.

A provider slashed in a dispute is suspended from matching until it stakes again after the slash and its bonded
stake (free + locked) is back at the market's minimum (`JobMarket.minStake()`): a proven cheater must put new money
at risk before it gets another job. Everything here is derived from confirmed chain events already indexed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coordinator.market_rules import min_stake
from coordinator.models import ChainEvent, Dispute, Job, JobStatus, Provider

__all__ = ["Record", "min_stake", "record", "suspension"]


@dataclass(frozen=True)
class Record:
    jobs_finalized: int
    jobs_failed: int
    disputes_won: int
    disputes_lost: int
    slashed_wei: str
    suspended: str | None  # why it is not matched, or None


def _last_event_id(session: Session, address: str, name: str) -> int | None:
    return session.execute(
        select(func.max(ChainEvent.id)).where(
            ChainEvent.contract == "StakeManager", ChainEvent.provider == address, ChainEvent.name == name
        )
    ).scalar_one_or_none()


def suspension(session: Session, p: Provider, minimum: int) -> str | None:
    """Why `p` is not matched because of a slash, or None."""
    if int(p.slashed_wei or 0) == 0:
        return None
    slashed = _last_event_id(session, p.address, "StakeSlashed")
    if slashed is None:
        return None
    staked = _last_event_id(session, p.address, "Staked")
    bonded = int(p.free_stake_wei) + int(p.locked_stake_wei)
    if staked is not None and staked > slashed and bonded >= minimum:
        return None
    return (f"slashed {p.slashed_wei} wei in a dispute: not matched until it stakes again to at least the "
            f"minimum stake of {minimum} wei (bonded now: {bonded})")


def record(session: Session, p: Provider, minimum: int) -> Record:
    def count(q: object) -> int:
        return int(session.execute(q).scalar_one())  # type: ignore[call-overload]

    jobs = select(func.count()).select_from(Job).where(Job.provider == p.address)
    disputes = select(func.count()).select_from(Dispute).where(Dispute.defender == p.address)
    return Record(
        jobs_finalized=count(jobs.where(Job.status == JobStatus.FINALIZED)),
        jobs_failed=count(jobs.where(Job.status == JobStatus.FAILED)),
        disputes_won=count(disputes.where(Dispute.outcome == "defender_wins")),
        disputes_lost=count(disputes.where(Dispute.outcome.in_(("challenger_wins", "both_lose")))),
        slashed_wei=str(p.slashed_wei or "0"),
        suspended=suspension(session, p, minimum),
    )

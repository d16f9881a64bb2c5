"""/v1/disputes: each dispute game's phase, interval, deadlines, outcome and every move with its tx hash."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.dependencies import ReadSessionDep
from coordinator.errors import NotFound, error_responses
from coordinator.models import Dispute, DisputeMove, Job
from coordinator.pagination import decode_cursor, encode_cursor
from coordinator.schemas import MAX_ID, DisputeDetail, DisputeMovePublic, DisputePublic, IdPath, Page

router = APIRouter(prefix="/v1/disputes", tags=["disputes"])


def _job_id(session: Session, chain_job_id: int) -> int | None:
    return session.execute(select(Job.id).where(Job.chain_job_id == chain_job_id)).scalar_one_or_none()


@router.get("", response_model=Page[DisputePublic], responses=error_responses(422))
def list_disputes(
    session: ReadSessionDep,
    job_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="coordinator job id")] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[DisputePublic]:
    q = select(Dispute).order_by(Dispute.id.desc()).limit(limit + 1)
    if job_id is not None:
        chain_id = session.execute(select(Job.chain_job_id).where(Job.id == job_id)).scalar_one_or_none()
        q = q.where(Dispute.chain_job_id == (chain_id if chain_id is not None else -1))
    if cursor is not None:
        q = q.where(Dispute.id < decode_cursor(cursor))
    rows = list(session.execute(q).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    items = []
    for d in rows:
        out = DisputePublic.model_validate(d)
        out.job_id = _job_id(session, d.chain_job_id)
        items.append(out)
    return Page[DisputePublic](items=items, next_cursor=encode_cursor(rows[-1].id) if more and rows else None)


@router.get("/{dispute_id}", response_model=DisputeDetail, responses=error_responses(404, 422))
def get_dispute(dispute_id: IdPath, session: ReadSessionDep) -> DisputeDetail:
    d = session.get(Dispute, dispute_id)
    if d is None:
        raise NotFound(f"no dispute {dispute_id}")
    moves = session.execute(
        select(DisputeMove)
        .where(DisputeMove.dispute_id == dispute_id)
        .order_by(DisputeMove.block_number, DisputeMove.id)
    ).scalars()
    out = DisputeDetail.model_validate(d)
    out.job_id = _job_id(session, d.chain_job_id)
    out.moves = [DisputeMovePublic.model_validate(m) for m in moves]
    return out

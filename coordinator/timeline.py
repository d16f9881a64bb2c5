"""Writing entries to a job's timeline (GET /v1/jobs/{id}/events): one place so every source looks the same."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from coordinator.models import JobEvent


def record(
    session: Session,
    job_id: int,
    source: str,
    kind: str,
    message: str,
    data: dict[str, Any] | None = None,
    chain_event_id: int | None = None,
) -> JobEvent:
    event = JobEvent(
        job_id=job_id,
        source=source,
        kind=kind,
        message=message,
        data=data or {},
        chain_event_id=chain_event_id,
    )
    session.add(event)
    return event

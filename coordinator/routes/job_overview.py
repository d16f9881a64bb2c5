"""GET /v1/jobs/{id}/overview: everything a job's page draws first, in one read.

The web console's job page shows the job, its loss curve, its timeline, its disputes and its result. Read one by
one that is five requests, and a browser opens six connections to one host, shared with the page's scripts: the
first draw waited on the slowest of them and on the queue. This is those five reads as one answer, built by the
very functions that serve them (same rows, same shapes, same visibility); the page polls the parts afterwards
(incremental progress, revalidated with ETags)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from coordinator.dependencies import ReadSessionDep
from coordinator.errors import NotFound, error_responses
from coordinator.models import Job
from coordinator.routes.disputes import list_disputes
from coordinator.routes.jobs import get_progress, get_result, job_events
from coordinator.schemas import (
    DisputePublic,
    IdPath,
    JobEventPublic,
    JobPublic,
    Page,
    ProgressPublic,
    ResultPublic,
)

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

EVENTS = 500  # the timeline's first page, as GET /v1/jobs/{id}/events?limit=500 gives it
DISPUTES = 200


class JobOverview(BaseModel):
    job: JobPublic
    progress: ProgressPublic = Field(description="as GET /v1/jobs/{id}/progress (since_step=0): up to 1000 points")
    events: Page[JobEventPublic] = Field(description=f"as GET /v1/jobs/{{id}}/events?limit={EVENTS}")
    disputes: list[DisputePublic] = Field(description="as GET /v1/disputes?job_id={id}, newest first")
    result: ResultPublic = Field(description="as GET /v1/jobs/{id}/result")


@router.get("/{job_id}/overview", response_model=JobOverview, responses=error_responses(404, 422))
def job_overview(job_id: IdPath, session: ReadSessionDep) -> JobOverview:
    """The job, its progress, its timeline's first page, its disputes and its result: a job page's first draw."""
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"no job {job_id}")
    return JobOverview(
        job=JobPublic.model_validate(job),
        progress=get_progress(job_id, session, since_step=0),
        events=job_events(job_id, session, cursor=None, limit=EVENTS),
        disputes=list_disputes(session, job_id=job_id, cursor=None, limit=DISPUTES).items,
        result=get_result(job_id, session),
    )

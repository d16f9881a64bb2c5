"""GET /healthz (process up), /readyz (database and RPC answer), /metrics (Prometheus text)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import func, select, text

from coordinator.dependencies import ChainDep, SessionDep
from coordinator.models import IndexerCursor, Job
from coordinator.schemas import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz", response_model=Readiness, responses={503: {"model": Readiness, "description": "not ready"}}
)
def readyz(session: SessionDep, chain: ChainDep) -> Response:
    db_ok = True
    block = None
    try:
        session.execute(text("SELECT 1"))
        cur = session.get(IndexerCursor, "main")
        block = cur.block_number if cur else None
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        db_ok = False
    rpc_ok = chain.ping()
    body = Readiness(
        status="ok" if db_ok and rpc_ok else "degraded", database=db_ok, rpc=rpc_ok, indexed_block=block
    )
    return JSONResponse(body.model_dump(), status_code=200 if db_ok and rpc_ok else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus exposition"}},
)
def metrics(request: Request, session: SessionDep) -> Response:
    m = request.app.state.metrics
    for status, n in session.execute(select(Job.status, func.count()).group_by(Job.status)).all():
        m.jobs.labels(status).set(n)
    return Response(m.exposition(), media_type=CONTENT_TYPE_LATEST)

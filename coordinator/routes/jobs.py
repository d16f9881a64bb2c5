"""/v1/jobs: create (returns the escrow tx), list, show, timeline, progress, result, model, spec, cancel."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import FileResponse
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from coordinator import market_rules, timeline
from coordinator.access import Readers
from coordinator.artifact_store import ArtifactStore
from coordinator.chain_gateway import ChainUnavailable
from coordinator.dependencies import ChainDep, CurrentUser, ReadSessionDep, SessionDep, SettingsDep, StoreDep
from coordinator.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Unprocessable,
    UpstreamUnavailable,
    error_responses,
)
from coordinator.evaluations import evaluations, final_evaluation
from coordinator.graph_jobs import model_facts
from coordinator.job_terms import deadline_from, terms_of
from coordinator.loss_plot import render_loss_png
from coordinator.models import (
    Artifact,
    Assignment,
    Dataset,
    IdempotencyKey,
    Job,
    JobEvent,
    JobStatus,
    ProgressPoint,
    Spec,
    Verification,
    utcnow,
)
from coordinator.pagination import decode_cursor, encode_cursor
from coordinator.schemas import (
    ADDRESS_PATTERN,
    MAX_ID,
    CancelPublic,
    DeclineCreate,
    IdPath,
    JobCreate,
    JobCreated,
    JobEventPublic,
    JobPublic,
    JobTermsPublic,
    Page,
    ProgressBatchCreate,
    ProgressBatchRecorded,
    ProgressCreate,
    ProgressPointPublic,
    ProgressPublic,
    ResultArtifactsCreate,
    ResultPublic,
    TransactionRequest,
    VerificationCreate,
)
from coordinator.settings import Settings
from verde.datasets import DatasetError, load_dataset
from verde.spec import JobSpec, canonical_json, spec_hash

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


def _get_job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"no job {job_id}")
    return job


def _created(job: Job, chain: ChainDep) -> JobCreated:
    terms = terms_of(job)
    try:
        tx = chain.post_job_tx(terms)
    except ChainUnavailable as exc:
        raise UpstreamUnavailable(str(exc)) from exc
    return JobCreated(
        job=JobPublic.model_validate(job),
        terms=JobTermsPublic.of(terms),
        transaction=TransactionRequest(**tx),
    )


GWEI = 10**9
MAX_COLLATERAL = (2**48 - 1) * GWEI  # JobMarket packs collateral as a 48-bit count of gwei


def _collateral(body: JobCreate, settings: Settings, floor: int = 0) -> int:
    """The job's collateral: as given (checked against the market's floor before anything is escrowed), else the
    coordinator's share of the price, raised to the floor so that a cheap job is still postable."""
    if body.collateral_wei is not None:
        if body.collateral_wei % GWEI:
            raise Unprocessable(
                "collateral_wei must be a whole number of gwei (JobMarket stores it in gwei)",
                details=[{"field": "body.collateral_wei", "message": "not a multiple of 10^9"}],
            )
        if body.collateral_wei < floor:
            raise Unprocessable(
                f"collateral_wei {body.collateral_wei} is below the market's floor of {floor} wei "
                "(a provider must risk something): raise it",
                details=[{"field": "body.collateral_wei", "message": "below the market's minimum collateral"}],
            )
        return body.collateral_wei
    share = body.price_wei * settings.collateral_bps // 10_000 // GWEI * GWEI
    return max(share, -(-floor // GWEI) * GWEI)


@router.post(
    "",
    response_model=JobCreated,
    status_code=201,
    responses={
        200: {"model": JobCreated, "description": "Idempotent replay of an earlier request"},
        **error_responses(400, 401, 409, 422, 503),
    },
)
def create_job(
    body: JobCreate,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    chain: ChainDep,
    store: StoreDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200, pattern=r"^[\x21-\x7e]+$")] = None,
) -> JobCreated:
    """Register a job in `awaiting_funding` and return the `postJob` transaction that escrows `price_wei`.

    The job becomes `open` when the indexer sees its `JobPosted` (same client, spec hash and price) confirmed.
    The same `Idempotency-Key` with the same body returns the same job (200); with another body, 409.
    """
    spec = body.spec
    request_hash = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    if idempotency_key is not None:
        prior = session.get(IdempotencyKey, (user, idempotency_key))
        if prior is not None:
            return _replay(session, prior, request_hash, chain, response)
    ds = spec.dataset.id
    if ds.startswith("sha256:") and session.get(Dataset, ds) is None:
        raise Unprocessable(
            f"unknown dataset {ds}: upload it with POST /v1/datasets first",
            code="unknown_dataset",
            details=[{"field": "body.spec.dataset.id", "message": "no such dataset"}],
        )
    if ds.startswith("sha256:"):
        _check_dataset_fits(spec, ds, store)
    digest = spec_hash(spec)
    # graph specs: the artifacts, the allowlist, weights and data against the graph; the figures the chain needs
    facts = model_facts(spec, store, store.path(ds.removeprefix("sha256:")).read_bytes()
                        if ds.startswith("sha256:") else None)
    n_params = facts.parameters
    collateral = _collateral(body, settings, market_rules.min_collateral(chain))
    if collateral > MAX_COLLATERAL:
        if body.collateral_wei is None:
            raise Unprocessable(
                f"price {body.price_wei} wei is too large: its default collateral "
                f"({settings.collateral_bps / 100:g}% of the price) exceeds the market's maximum of {MAX_COLLATERAL} "
                "wei; lower the price or set collateral_wei",
                details=[{"field": "body.price_wei", "message": "too large for the default collateral"}],
            )
        raise Unprocessable(
            f"collateral above the market's maximum of {MAX_COLLATERAL} wei",
            details=[{"field": "body.collateral_wei", "message": "too large"}],
        )
    known = session.get(Spec, digest)
    if known is None:
        session.add(Spec(spec_hash=digest, canonical_json=canonical_json(spec).decode(), num_params=n_params))
        try:
            session.flush()
        except IntegrityError:
            session.rollback()  # another request stored the same spec first
    elif not known.canonical_json:
        # Escrows adopted before anyone showed this spec (projection.UNKNOWN_SPEC): its hash binds these bytes, so
        # they are that spec, and those jobs can be matched now.
        known.canonical_json, known.num_params = canonical_json(spec).decode(), n_params
        session.execute(
            update(Job).where(Job.spec_hash == digest, Job.num_params == 0).values(num_params=n_params, wait_reason=None)
        )
        session.flush()
    now = utcnow()
    job = Job(
        client=user,
        spec_hash=digest,
        price_wei=str(body.price_wei),
        collateral_wei=str(collateral),
        deadline_s=body.deadline_s,
        deadline_at=deadline_from(now, body.deadline_s),
        num_steps=spec.steps,
        checkpoint_every=spec.checkpoint_every,
        ops_per_step=facts.ops_per_step,
        num_params=n_params,
        step_bytes=facts.step_bytes,
        repops_version=settings.repops_version,
        device=body.device,
        status=JobStatus.AWAITING_FUNDING,
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    session.flush()
    if idempotency_key is not None:
        session.add(
            IdempotencyKey(client=user, key=idempotency_key, request_hash=request_hash, job_id=job.id)
        )
    timeline.record(
        session,
        job.id,
        "coordinator",
        "created",
        "job created; waiting for the escrow transaction",
        {"spec_hash": digest, "price_wei": str(body.price_wei)},
    )
    result = _created(job, chain)  # before commit: a chain misconfiguration leaves no row behind
    try:
        session.commit()
    except IntegrityError:
        # A concurrent request with the same Idempotency-Key won the race.
        session.rollback()
        prior = session.get(IdempotencyKey, (user, idempotency_key)) if idempotency_key else None
        if prior is None:
            raise
        return _replay(session, prior, request_hash, chain, response)
    return result


def _check_dataset_fits(spec: JobSpec, dataset_id: str, store: ArtifactStore) -> None:
    """Everything a worker would check about the data, checked before anything is escrowed: a job whose data
    cannot fit its model must never reach a provider who locks collateral for it."""
    digest = dataset_id.removeprefix("sha256:")
    if not store.exists(digest):
        raise Unprocessable(
            f"dataset {dataset_id} is registered but its bytes are gone: upload it again",
            code="unknown_dataset",
            details=[{"field": "body.spec.dataset.id", "message": "bytes missing"}],
        )
    try:
        load_dataset(spec, store.path(digest).read_bytes())
    except DatasetError as exc:
        raise Unprocessable(
            f"dataset {dataset_id} does not fit the spec: {exc}",
            code="dataset_mismatch",
            details=[{"field": "body.spec.dataset.id", "message": str(exc)}],
        ) from None


def _replay(
    session: Session, prior: IdempotencyKey, request_hash: str, chain: ChainDep, response: Response
) -> JobCreated:
    if prior.request_hash != request_hash:
        raise Conflict(
            "Idempotency-Key was already used with a different request body", code="idempotency_conflict"
        )
    response.status_code = 200
    response.headers["Idempotent-Replayed"] = "true"
    return _created(_get_job(session, prior.job_id), chain)


@router.get("/{job_id}/funding", response_model=JobCreated, responses=error_responses(401, 403, 404, 409, 422, 503))
def get_funding(job_id: IdPath, user: CurrentUser, session: ReadSessionDep, chain: ChainDep) -> JobCreated:
    """Client only: the `postJob` transaction of a job still awaiting funding (what `POST /v1/jobs` returned),
    so a client that crashed between create and escrow can finish without creating a second job."""
    job = _get_job(session, job_id)
    if job.client != user:
        raise Forbidden("only the job's client may fund it")
    if job.status != JobStatus.AWAITING_FUNDING:
        raise Conflict(f"job {job_id} is {job.status}, not awaiting funding", code="wrong_status")
    return _created(job, chain)


@router.get("", response_model=Page[JobPublic], responses=error_responses(422))
def list_jobs(
    session: ReadSessionDep,
    settings: SettingsDep,
    status: Annotated[str | None, Query(description="one of " + ", ".join(JobStatus.ALL))] = None,
    client: Annotated[str | None, Query(pattern=ADDRESS_PATTERN)] = None,
    provider: Annotated[str | None, Query(pattern=ADDRESS_PATTERN)] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[JobPublic]:
    """Jobs, newest first; filter by status, client and provider; follow `next_cursor`."""
    if status is not None and status not in JobStatus.ALL:
        raise Unprocessable(
            f"unknown status {status!r}", details=[{"field": "query.status", "message": "unknown"}]
        )
    q = select(Job).order_by(Job.id.desc()).limit(limit + 1)
    if status is not None:
        q = q.where(Job.status == status)
    if client is not None:
        q = q.where(Job.client == client.lower())
    if provider is not None:
        q = q.where(Job.provider == provider.lower())
    if cursor is not None:
        q = q.where(Job.id < decode_cursor(cursor))
    rows = list(session.execute(q).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[JobPublic](
        items=[JobPublic.model_validate(r) for r in rows],
        next_cursor=encode_cursor(rows[-1].id) if more and rows else None,
    )


@router.get("/{job_id}", response_model=JobPublic, responses=error_responses(404, 422))
def get_job(job_id: IdPath, request: Request) -> Response:
    # The hottest read: plain psycopg on Postgres (coordinator/read_model.py), serialized here (documented by
    # response_model) rather than re-validated by FastAPI in a second thread-pool hop.
    reader = request.app.state.job_reader
    if reader is not None:
        body = reader.job_json(job_id)
    else:
        with request.app.state.read_session_factory() as session:
            job = session.get(Job, job_id)
            body = None if job is None else JobPublic.model_validate(job).model_dump_json().encode()
    if body is None:
        raise NotFound(f"no job {job_id}")
    return Response(content=body, media_type="application/json")


@router.get("/{job_id}/events", response_model=Page[JobEventPublic], responses=error_responses(404, 422))
def job_events(
    job_id: IdPath,
    session: ReadSessionDep,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> Page[JobEventPublic]:
    """The job's timeline, oldest first: chain events, matcher notes, worker progress, dispute moves."""
    _get_job(session, job_id)
    q = select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id).limit(limit + 1)
    if cursor is not None:
        q = q.where(JobEvent.id > decode_cursor(cursor))
    rows = list(session.execute(q).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[JobEventPublic](
        items=[JobEventPublic.model_validate(r) for r in rows],
        next_cursor=encode_cursor(rows[-1].id) if more and rows else None,
    )


@router.get("/{job_id}/progress", response_model=ProgressPublic, responses=error_responses(404, 422))
def get_progress(
    job_id: IdPath, session: ReadSessionDep, since_step: Annotated[int, Query(ge=0, le=MAX_ID)] = 0
) -> ProgressPublic:
    """Reported (step, loss) points, for polling: pass the last step seen as `since_step`."""
    job = _get_job(session, job_id)
    # Columns, not ORM objects: up to 1000 rows a read, polled by every open job page (the console's hottest list).
    points = session.execute(
        select(ProgressPoint.step, ProgressPoint.loss, ProgressPoint.created_at)
        .where(ProgressPoint.job_id == job_id, ProgressPoint.step >= since_step)
        .order_by(ProgressPoint.step)
        .limit(1000)
    ).all()
    latest = session.execute(
        select(ProgressPoint.step, ProgressPoint.loss)
        .where(ProgressPoint.job_id == job_id)
        .order_by(ProgressPoint.step.desc())
        .limit(1)
    ).first()
    return ProgressPublic(
        job_id=job_id,
        num_steps=job.num_steps,
        latest_step=latest.step if latest else None,
        latest_loss=latest.loss if latest else None,
        points=[ProgressPointPublic(step=p.step, loss=p.loss, created_at=p.created_at) for p in points],
    )


@router.get(
    "/{job_id}/plot.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "the loss curve"}, **error_responses(404, 422)},
)
def get_plot(job_id: IdPath, session: ReadSessionDep) -> Response:
    """The job's reported loss curve as a PNG."""
    job = _get_job(session, job_id)
    points = session.execute(
        select(ProgressPoint.step, ProgressPoint.loss).where(ProgressPoint.job_id == job_id).order_by(ProgressPoint.step)
    ).all()
    evals = [(e["step"], e["loss"], e["accuracy"]) for e in evaluations(session, job_id)]
    png = render_loss_png([p.step for p in points], [p.loss for p in points], f"job {job_id} ({job.status}, {job.verification})",
                          evals=evals, num_steps=job.num_steps)
    return Response(content=png, media_type="image/png")


def _require_assigned_provider(job: Job, user: str) -> None:
    if job.provider is None or job.provider != user:
        raise Forbidden("only the job's assigned provider may report for it")
    if job.status not in (JobStatus.ASSIGNED, JobStatus.RUNNING, JobStatus.SUBMITTED, JobStatus.DISPUTED):
        raise Conflict(f"job is {job.status}", code="wrong_status")


@router.post(
    "/{job_id}/progress",
    response_model=ProgressPointPublic,
    status_code=201,
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
def post_progress(
    job_id: IdPath, body: ProgressCreate, user: CurrentUser, session: SessionDep
) -> ProgressPointPublic:
    """Worker-facing: the assigned provider reports (step, loss). Re-reporting a step keeps the first value."""
    job = _get_job(session, job_id)
    _require_assigned_provider(job, user)
    if body.step > job.num_steps:
        raise Unprocessable(
            f"step {body.step} beyond the job's {job.num_steps} steps",
            details=[{"field": "body.step", "message": "beyond num_steps"}],
        )
    existing = session.execute(
        select(ProgressPoint).where(ProgressPoint.job_id == job_id, ProgressPoint.step == body.step)
    ).scalar_one_or_none()
    if existing is not None:
        return ProgressPointPublic.model_validate(existing)
    point = ProgressPoint(job_id=job_id, step=body.step, loss=body.loss)
    session.add(point)
    # The timeline gets checkpoint-level progress, not every step (that is what /progress is for).
    if body.step % job.checkpoint_every == 0 or body.step == job.num_steps:
        timeline.record(
            session,
            job_id,
            "worker",
            "progress",
            f"step {body.step}/{job.num_steps}, loss {body.loss:.6g}",
            {"step": body.step, "loss": body.loss},
        )
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        point = session.execute(
            select(ProgressPoint).where(ProgressPoint.job_id == job_id, ProgressPoint.step == body.step)
        ).scalar_one()
    return ProgressPointPublic.model_validate(point)


def _require_reporting_provider(session: Session, job: Job, user: str) -> None:
    """The assigned provider, or the one the matcher's active claim names before the indexer has confirmed the
    assignment: a worker starts training at once, and its first steps' losses must not be lost meanwhile."""
    if job.provider is None and job.status == JobStatus.OPEN:
        claim = session.execute(
            select(Assignment.id).where(
                Assignment.job_id == job.id, Assignment.active.is_(True), Assignment.provider == user
            )
        ).first()
        if claim is not None:
            return
    _require_assigned_provider(job, user)


@router.post(
    "/{job_id}/progress/batch",
    response_model=ProgressBatchRecorded,
    status_code=201,
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
def post_progress_batch(
    job_id: IdPath, body: ProgressBatchCreate, user: CurrentUser, session: SessionDep
) -> ProgressBatchRecorded:
    """Worker-facing: every step's (step, loss) since the last report, and held-out evaluations, in one request.
    Re-sent steps keep their first value, so a worker may resend a batch it is unsure about."""
    job = _get_job(session, job_id)
    _require_reporting_provider(session, job, user)
    for i, p in enumerate([*body.points, *body.evals]):
        if p.step > job.num_steps:
            raise Unprocessable(
                f"step {p.step} beyond the job's {job.num_steps} steps",
                details=[{"field": f"body.points.{i}.step", "message": "beyond num_steps"}],
            )
    steps = {p.step: p.loss for p in body.points}
    known = set(
        session.execute(
            select(ProgressPoint.step).where(ProgressPoint.job_id == job_id, ProgressPoint.step.in_(list(steps)))
        ).scalars()
    ) if steps else set()
    fresh = sorted(s for s in steps if s not in known)
    for step in fresh:
        session.add(ProgressPoint(job_id=job_id, step=step, loss=steps[step]))
        # The timeline gets checkpoint-level progress, not every step (that is what /progress is for).
        if step % job.checkpoint_every == 0 or step == job.num_steps:
            timeline.record(session, job_id, "worker", "progress",
                            f"step {step}/{job.num_steps}, loss {steps[step]:.6g}", {"step": step, "loss": steps[step]})
    if body.evals:
        seen = {
            (e.data or {}).get("step")
            for e in session.execute(
                select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.kind == "evaluation")
            ).scalars()
        }
        for ev in body.evals:
            if ev.step in seen:
                continue
            seen.add(ev.step)
            timeline.record(session, job_id, "worker", "evaluation", eval_message(ev.step, ev.loss, ev.accuracy),
                            {"step": ev.step, "loss": ev.loss, "accuracy": ev.accuracy})
    try:
        session.commit()
    except IntegrityError:  # a concurrent resend of the same steps: theirs won, which is the same data
        session.rollback()
        fresh = []
    latest = session.execute(
        select(func.max(ProgressPoint.step)).where(ProgressPoint.job_id == job_id)
    ).scalar_one_or_none()
    return ProgressBatchRecorded(recorded=len(fresh), latest_step=latest)


def eval_message(step: int, loss: float | None, accuracy: float | None) -> str:
    parts = [f"loss {loss:.6g}" if loss is not None else None,
             f"accuracy {accuracy:.4f}" if accuracy is not None else None]
    return f"held-out evaluation after step {step}: " + ", ".join(p for p in parts if p)


@router.get("/{job_id}/result", response_model=ResultPublic, responses=error_responses(404, 422))
def get_result(job_id: IdPath, session: ReadSessionDep) -> ResultPublic:
    """The submitted commitments (from the chain) and the worker-registered artifacts."""
    job = _get_job(session, job_id)
    return ResultPublic(
        job_id=job.id,
        status=job.status,
        trace_root=job.trace_root,
        final_model_hash=job.final_model_hash,
        model_artifact=job.model_artifact,
        checkpoint_artifact=job.checkpoint_artifact,
        evaluation=final_evaluation(session, job.id, job.num_steps),
    )


@router.post(
    "/{job_id}/result-artifacts",
    response_model=ResultPublic,
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
def post_result_artifacts(
    job_id: IdPath, body: ResultArtifactsCreate, user: CurrentUser, session: SessionDep
) -> ResultPublic:
    """Worker-facing: the assigned provider names the uploaded final model (and checkpoint) artifacts."""
    job = _get_job(session, job_id)
    _require_assigned_provider(job, user)
    ids = [body.model_artifact] + ([body.checkpoint_artifact] if body.checkpoint_artifact else [])
    for field, ident in zip(("body.model_artifact", "body.checkpoint_artifact"), ids, strict=False):
        if session.get(Artifact, ident.removeprefix("sha256:")) is None:
            raise Unprocessable(
                f"unknown artifact {ident}: upload it with POST /v1/artifacts first",
                code="unknown_artifact",
                details=[{"field": field, "message": "no such artifact"}],
            )
    job.model_artifact = body.model_artifact.removeprefix("sha256:")
    job.checkpoint_artifact = (
        body.checkpoint_artifact.removeprefix("sha256:") if body.checkpoint_artifact else None
    )
    timeline.record(
        session,
        job.id,
        "worker",
        "result_artifacts",
        "provider registered the result artifacts",
        {"model": job.model_artifact, "checkpoint": job.checkpoint_artifact},
    )
    session.commit()
    return get_result(job_id, session)


@router.post(
    "/{job_id}/verification",
    response_model=JobEventPublic,
    status_code=201,
    responses=error_responses(400, 401, 404, 422),
)
def post_verification(
    job_id: IdPath, body: VerificationCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> JobEventPublic:
    """Verifier-facing: a signed-in verifier records its decision about the job (the same one twice is kept once).
    A decision of one of the coordinator's verifiers (AGORA_VERIFIERS) also moves the job's `verification`."""
    job = _get_job(session, job_id)
    if user in {a.strip().lower() for a in settings.verifiers.split(",")}:
        _note_verification(session, job, body.decision)
    data = {"decision": body.decision, "verifier": user, "reason": body.reason, "game_id": body.game_id}
    for known in session.execute(
        select(JobEvent).where(JobEvent.job_id == job.id, JobEvent.kind == "verification")
    ).scalars():
        if known.data == data:
            return JobEventPublic.model_validate(known)
    text = f"verifier {user}: {body.decision.replace('_', ' ')}" + (f" ({body.reason})" if body.reason else "")
    event = timeline.record(session, job.id, "verifier", "verification", text, data)
    session.commit()
    return JobEventPublic.model_validate(event)


def _note_verification(session: Session, job: Job, decision: str) -> None:
    if job.verification == Verification.DISPUTED:
        return  # a challenge outranks any agreement
    if decision == "challenged":
        job.verification = Verification.DISPUTED
    elif decision == "agrees":
        spec = session.get(Spec, job.spec_hash)
        replicas = json.loads(spec.canonical_json).get("verification", {}).get("replicas", 1) if spec else 1
        # The verifier re-runs every job that asks for two or more replicas, and a random share of the rest.
        job.verification = Verification.REPLICATED if replicas >= 2 else Verification.SPOT_CHECKED


@router.post(
    "/{job_id}/declined",
    response_model=JobEventPublic,
    status_code=201,
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
def post_declined(job_id: IdPath, body: DeclineCreate, user: CurrentUser, session: SessionDep) -> JobEventPublic:
    """Worker-facing: the assigned provider says why it will not accept the job (before accepting it)."""
    job = _get_job(session, job_id)
    if job.provider is None or job.provider != user:
        raise Forbidden("only the job's assigned provider may decline it")
    event = timeline.record(session, job.id, "worker", "declined", f"provider declined: {body.reason}",
                            {"provider": user, "reason": body.reason})
    session.commit()
    return JobEventPublic.model_validate(event)


@router.get(
    "/{job_id}/model",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "the final model bytes"},
        **error_responses(401, 403, 404, 409, 422),
    },
)
def get_model(job_id: IdPath, user: CurrentUser, session: ReadSessionDep, store: StoreDep) -> FileResponse:
    """The final model (client only); compare its hash with the result's `final_model_hash`."""
    job = _get_job(session, job_id)
    if job.client != user:
        raise Forbidden("only the job's client may download its model")
    if job.model_artifact is None or not store.exists(job.model_artifact):
        raise Conflict("no model yet", code="no_model")
    return FileResponse(
        store.path(job.model_artifact),
        media_type="application/octet-stream",
        filename=f"job-{job.id}-model.pt",
    )


@router.get(
    "/{job_id}/spec",
    responses={
        200: {
            "content": {"application/json": {"schema": {"type": "object"}}},
            "description": "canonical spec JSON (keccak256 of these bytes = spec_hash)",
        },
        **error_responses(401, 403, 404, 422),
    },
)
def get_spec(
    job_id: IdPath, user: CurrentUser, session: ReadSessionDep, settings: SettingsDep, chain: ChainDep
) -> Response:
    """The canonical spec bytes (keccak256 of the body equals the job's `spec_hash`), for the job's client,
    provider, verifiers, referee and challengers (docs/API.md "Who can read what")."""
    job = _get_job(session, job_id)
    if not Readers(session, settings, chain, user).job_party(job):
        raise Forbidden(f"{user} is not a party of job {job_id}: only they may read its spec")
    spec = session.get(Spec, job.spec_hash)
    assert spec is not None
    return Response(
        content=spec.canonical_json.encode(),
        media_type="application/json",
        headers={"X-Spec-Hash": job.spec_hash},
    )


@router.post(
    "/{job_id}/cancel", response_model=CancelPublic, responses=error_responses(401, 403, 404, 409, 422, 503)
)
def cancel_job(job_id: IdPath, user: CurrentUser, session: SessionDep, chain: ChainDep) -> CancelPublic:
    """Client only. An unfunded job is cancelled at once; an open/assigned one returns the `cancel` tx to sign."""
    job = _get_job(session, job_id)
    if job.client != user:
        raise Forbidden("only the job's client may cancel it")
    if job.status == JobStatus.AWAITING_FUNDING:
        job.status = JobStatus.CANCELLED
        timeline.record(session, job.id, "coordinator", "cancelled", "cancelled before funding")
        session.commit()
        return CancelPublic(job=JobPublic.model_validate(job), transaction=None)
    if job.status not in (JobStatus.OPEN, JobStatus.ASSIGNED) or job.chain_job_id is None:
        raise Conflict(f"a {job.status} job cannot be cancelled", code="wrong_status")
    try:
        tx = chain.cancel_tx(job.chain_job_id, terms_of(job))
    except ChainUnavailable as exc:
        raise UpstreamUnavailable(str(exc)) from exc
    return CancelPublic(job=JobPublic.model_validate(job), transaction=TransactionRequest(**tx))

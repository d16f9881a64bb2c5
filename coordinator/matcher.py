"""The matching service: expire assignments whose accept window closed, match open jobs to live providers
(coordinator/matching.py), claim each match in the DB, call JobMarket.assign with the MATCHER key, and
enqueue the job on the provider's Celery queue after the commit.

Run as `python -m coordinator.matcher`. Two matchers (or a matcher and a retry) never assign one job twice:
jobs are claimed with FOR UPDATE SKIP LOCKED (Postgres) and a partial unique index allows one active
assignment per job.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from coordinator import standing, timeline
from coordinator.chain_gateway import ChainGateway
from coordinator.dispatch import CeleryDispatcher, Dispatcher
from coordinator.matching import Candidate, OpenJob, match
from coordinator.metrics import Metrics
from coordinator.models import Assignment, AssignmentStatus, ChainEvent, Job, JobStatus, Provider, utcnow
from coordinator.settings import Settings

log = logging.getLogger(__name__)
CLAIM_BATCH = 10_000
STALE_PENDING = dt.timedelta(minutes=2)
# A provider that let a job's accept window pass is not offered that job again for this long. Not forever: a
# coordinator outage can make every live provider miss the window (they could not fetch the spec), and a job
# whose every capable provider is excluded would then wait for its deadline (seen in `agora bench soak`).
REOFFER_AFTER_EXPIRY = dt.timedelta(seconds=120)
REDISPATCH_AFTER = dt.timedelta(seconds=30)


@dataclass
class MatchRound:
    assigned: list[tuple[int, str]] = field(default_factory=list)  # (job id, provider) sent on-chain
    failed: list[tuple[int, str]] = field(default_factory=list)  # (job id, error)
    waiting: dict[int, str] = field(default_factory=dict)
    expired: list[int] = field(default_factory=list)


class Matcher:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        chain: ChainGateway,
        settings: Settings,
        dispatcher: Dispatcher | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.sessions = session_factory
        self.chain = chain
        self.settings = settings
        self.dispatcher = dispatcher or CeleryDispatcher(settings.broker_url, settings.broker_dir)
        self.metrics = metrics
        key = settings.matcher_private_key()
        if key is None:
            raise ValueError(
                "the matcher needs the MATCHER key: set AGORA_MATCHER_KEY_FILE or AGORA_MATCHER_KEY"
            )
        self._key = key
        self._window: tuple[float, int | None] = (float("-inf"), None)

    # ------------------------------------------------------------ one round

    def tick(self, now: dt.datetime | None = None) -> MatchRound:
        now = now or utcnow()
        result = MatchRound()
        result.expired = self._expire_overdue()
        self._release_stale(now)
        self._redispatch(now)
        claimed = self._claim(now, result)
        for assignment_id, job_id, chain_job_id, provider in claimed:
            self._assign_on_chain(assignment_id, job_id, chain_job_id, provider, result)
        return result

    def run_forever(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:
                log.exception("matcher round failed")
            time.sleep(self.settings.matcher_poll_s)

    # ------------------------------------------------------------ steps

    def _expire_overdue(self) -> list[int]:
        """Jobs whose provider missed acceptBy (chain time): call expire so the chain reopens them."""
        try:
            chain_now = dt.datetime.fromtimestamp(
                int(self.chain.w3.eth.get_block("latest")["timestamp"]), dt.UTC
            )
        except Exception:  # noqa: BLE001 - RPC down: nothing to expire this round
            return []
        self._reclaim_stalled(chain_now)
        with self.sessions() as session:
            overdue = list(
                session.execute(
                    select(Job.id, Job.chain_job_id).where(
                        Job.chain_job_id.is_not(None),
                        or_(
                            and_(Job.status == JobStatus.ASSIGNED, Job.accept_by < chain_now),
                            # Past its deadline an unstarted job only waits for someone to refund the client.
                            and_(
                                Job.status.in_((JobStatus.OPEN, JobStatus.ASSIGNED)),
                                Job.deadline_at < chain_now,
                            ),
                        ),
                    )
                ).all()
            )
        done = []
        for job_id, chain_job_id in overdue:
            try:
                tx = self.chain.expire(self._key, int(chain_job_id or 0))
            except Exception as exc:  # noqa: BLE001 - already accepted/expired: the indexer will tell
                log.info("expire(%s) not sent: %s", chain_job_id, exc)
                continue
            with self.sessions() as session:
                timeline.record(
                    session,
                    job_id,
                    "matcher",
                    "expire_sent",
                    "accept window or deadline passed; expire sent",
                    {"tx_hash": tx},
                )
                session.commit()
            done.append(job_id)
        return done

    def _liveness_window(self) -> int | None:
        """JobMarket's liveness window (seconds), re-read every minute; None on a market without the rule."""
        at, value = self._window
        if time.monotonic() - at < 60:
            return value
        try:
            value = int(self.chain.market(self._key).params().liveness_window)
        except Exception as exc:  # noqa: BLE001 - an older market or the RPC is away: keep what we had
            log.debug("liveness window not read: %s", exc)
        self._window = (time.monotonic(), value)
        return value

    def _reclaim_stalled(self, chain_now: dt.datetime) -> list[int]:
        """Running jobs whose provider has sent no sign of life (accept, heartbeat) for a whole liveness window:
        `reclaimStalled` reopens them (the provider forfeits part of its collateral) so someone else runs them."""
        window = self._liveness_window()
        if not window:
            return []
        with self.sessions() as session:
            alive = (
                select(ChainEvent.chain_job_id, func.max(ChainEvent.block_time).label("last"))
                .where(ChainEvent.contract == "JobMarket", ChainEvent.name.in_(("JobAccepted", "Heartbeat")))
                .group_by(ChainEvent.chain_job_id)
                .subquery()
            )
            silent = list(
                session.execute(
                    select(Job.id, Job.chain_job_id)
                    .join(alive, alive.c.chain_job_id == Job.chain_job_id)
                    .where(
                        Job.status == JobStatus.RUNNING,
                        alive.c.last < chain_now - dt.timedelta(seconds=window),
                        Job.deadline_at > chain_now,  # after the deadline, expire's larger forfeit applies
                    )
                ).all()
            )
        done = []
        for job_id, chain_job_id in silent:
            try:
                tx = self.chain.market(self._key).reclaim_stalled(int(chain_job_id or 0)).tx_hash
            except Exception as exc:  # noqa: BLE001 - a heartbeat arrived meanwhile, or another caller won
                log.info("reclaimStalled(%s) not sent: %s", chain_job_id, exc)
                continue
            with self.sessions() as session:
                timeline.record(session, job_id, "matcher", "reclaim_sent",
                                f"no sign of life from the provider for {window}s: reclaimStalled sent",
                                {"tx_hash": tx})
                session.commit()
            done.append(job_id)
        return done

    def _release_stale(self, now: dt.datetime) -> None:
        """A claim whose assign tx never went out (the matcher died in between) frees its job again."""
        with self.sessions() as session:
            session.execute(
                update(Assignment)
                .where(
                    Assignment.active.is_(True),
                    Assignment.status == AssignmentStatus.PENDING,
                    Assignment.tx_hash.is_(None),
                    Assignment.created_at < now - STALE_PENDING,
                )
                .values(active=False, status=AssignmentStatus.FAILED, error="claim went stale")
            )
            session.commit()

    def _claim(self, now: dt.datetime, result: MatchRound) -> list[tuple[int, int, int, str]]:
        """Match and record the claims in one transaction; returns (assignment, job, chain job, provider)."""
        with self.sessions() as session:
            active = select(Assignment.job_id).where(Assignment.active.is_(True))
            q = (
                select(Job)
                .where(
                    Job.status == JobStatus.OPEN,
                    Job.chain_job_id.is_not(None),
                    Job.id.not_in(active),
                    Job.deadline_at > now,
                    Job.num_params > 0,  # an escrow whose spec the coordinator never saw (projection.UNKNOWN_SPEC)
                )
                .order_by(Job.id)
                .limit(CLAIM_BATCH)
            )
            if session.get_bind().dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True, of=Job)
            jobs = list(session.execute(q).scalars())
            if not jobs:
                return []
            excluded: dict[int, set[str]] = {}
            for job_id, prov in session.execute(
                select(Assignment.job_id, Assignment.provider).where(
                    Assignment.job_id.in_([j.id for j in jobs]),
                    or_(
                        and_(
                            Assignment.status == AssignmentStatus.EXPIRED,
                            Assignment.updated_at > now - REOFFER_AFTER_EXPIRY,
                        ),
                        # It accepted the job and then went silent or gave it back: never offered it again.
                        Assignment.status == AssignmentStatus.STALLED,
                    ),
                )
            ).all():
                excluded.setdefault(job_id, set()).add(prov)
            busy = dict(
                session.execute(
                    select(Assignment.provider, func.count())
                    .where(Assignment.active.is_(True))
                    .group_by(Assignment.provider)
                ).all()
            )
            fresh = now - dt.timedelta(seconds=self.settings.heartbeat_ttl_s)
            providers = list(
                session.execute(select(Provider).where(Provider.last_heartbeat_at >= fresh)).scalars()
            )
            # A provider slashed in a dispute gets no job until it has restaked to the minimum (standing.py).
            minimum = standing.min_stake(self.chain) if any(int(p.slashed_wei or 0) for p in providers) else 0
            providers = [p for p in providers if standing.suspension(session, p, minimum) is None]
            candidates = [
                Candidate(
                    address=p.address,
                    free_stake=int(p.free_stake_wei),
                    max_params=p.max_params,
                    max_step_bytes=p.max_step_bytes,
                    devices=frozenset(p.devices or ()),
                    repops_version=p.repops_version or "",
                    slots=self.settings.provider_max_queue - max(p.queue_depth, busy.get(p.address, 0)),
                    last_assigned=p.last_assigned_at.timestamp() if p.last_assigned_at else float("-inf"),
                )
                for p in providers
            ]
            open_jobs = [
                OpenJob(
                    j.id,
                    j.num_params,
                    int(j.collateral_wei),
                    j.repops_version,
                    j.device,
                    frozenset(excluded.get(j.id, ())),
                    step_bytes=j.step_bytes or 0,
                )
                for j in jobs
            ]
            plan = match(open_jobs, candidates, start_seq=now.timestamp())
            by_id = {j.id: j for j in jobs}
            for job_id, reason in plan.waiting.items():
                job = by_id[job_id]
                if job.wait_reason != reason:
                    job.wait_reason = reason
                    timeline.record(session, job_id, "matcher", "waiting", reason)
            result.waiting = plan.waiting
            claims: list[Assignment] = []
            for job_id, provider in plan.assignments:
                a = Assignment(
                    job_id=job_id,
                    provider=provider,
                    status=AssignmentStatus.PENDING,
                    active=True,
                    created_at=now,
                    updated_at=now,
                )
                session.add(a)
                claims.append(a)
                by_id[job_id].wait_reason = None
            try:
                # The partial unique index refuses a job another matcher claimed since we read it; that can
                # surface at this flush (or at the autoflush of the updates below), so all of it is guarded.
                session.flush()
                for i, (_, provider) in enumerate(plan.assignments):
                    session.execute(
                        update(Provider)
                        .where(Provider.address == provider)
                        .values(last_assigned_at=now + dt.timedelta(microseconds=i))
                    )
                session.commit()
            except (IntegrityError, OperationalError) as exc:
                # Another matcher claimed one of these jobs first: nothing of ours was written; try next round.
                session.rollback()
                log.info("claim lost a race: %s", exc.__class__.__name__)
                return []
            return [(a.id, a.job_id, int(by_id[a.job_id].chain_job_id or 0), a.provider) for a in claims]

    def _assign_on_chain(
        self, assignment_id: int, job_id: int, chain_job_id: int, provider: str, result: MatchRound
    ) -> None:
        try:
            tx = self.chain.assign(self._key, chain_job_id, provider)
        except Exception as exc:  # noqa: BLE001 - any failure frees the claim for the next round
            with self.sessions() as session:
                session.execute(
                    update(Assignment)
                    .where(Assignment.id == assignment_id)
                    .values(active=False, status=AssignmentStatus.FAILED, error=str(exc)[:500])
                )
                timeline.record(
                    session,
                    job_id,
                    "matcher",
                    "assign_failed",
                    f"assign to {provider} failed on-chain; will re-match",
                    {"error": str(exc)[:200]},
                )
                session.commit()
            result.failed.append((job_id, str(exc)))
            return
        with self.sessions() as session:
            session.execute(update(Assignment).where(Assignment.id == assignment_id).values(tx_hash=tx))
            # The indexer may already have seen JobAssigned (or even JobAccepted): never move backwards.
            session.execute(
                update(Assignment)
                .where(Assignment.id == assignment_id, Assignment.status == AssignmentStatus.PENDING)
                .values(status=AssignmentStatus.ASSIGNED)
            )
            timeline.record(
                session, job_id, "matcher", "assign_sent", f"assigned to {provider}", {"tx_hash": tx}
            )
            session.commit()
        result.assigned.append((job_id, provider))
        if self.metrics:
            self.metrics.assignments.inc()
        # Only after the commit: a worker that starts at once finds the assignment recorded.
        self._dispatch(assignment_id, job_id, provider)

    def _dispatch(self, assignment_id: int, job_id: int, provider: str) -> bool:
        try:
            self.dispatcher.dispatch(job_id, provider)
        except Exception:
            log.exception("could not enqueue job %s for %s", job_id, provider)
            return False
        with self.sessions() as session:
            session.execute(
                update(Assignment).where(Assignment.id == assignment_id).values(dispatched_at=utcnow())
            )
            session.commit()
        return True

    def _redispatch(self, now: dt.datetime) -> None:
        """Assignments mined on-chain whose enqueue failed (broker down) are enqueued again; workers' tasks
        are idempotent, so the rare duplicate after a crash between send and bookkeeping is harmless."""
        with self.sessions() as session:
            pending = session.execute(
                select(Assignment.id, Assignment.job_id, Assignment.provider).where(
                    Assignment.active.is_(True),
                    Assignment.tx_hash.is_not(None),
                    Assignment.dispatched_at.is_(None),
                    Assignment.updated_at < now - REDISPATCH_AFTER,
                )
            ).all()
        for assignment_id, job_id, provider in pending:
            self._dispatch(assignment_id, job_id, provider)


def main() -> None:
    from coordinator.database import make_engine, make_session_factory

    logging.basicConfig(level=logging.INFO)
    settings = Settings()
    chain = ChainGateway.from_settings(settings.rpc_url, settings.chain_id, settings.deployment_file)
    from coordinator.metrics import process_metrics

    Matcher(make_session_factory(make_engine(settings.database_url)), chain, settings,
          metrics=process_metrics("matcher")).run_forever()


if __name__ == "__main__":
    main()

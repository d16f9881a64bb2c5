"""Chain events → coordinator state. Job, provider and dispute rows past `awaiting_funding` are a pure fold of
their confirmed events, so a reorg is undone by resetting the touched rows and replaying what is left."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from chain.dispute_game import GamePhase, GameState, outcome_name
from coordinator import timeline
from coordinator.models import (
    Assignment,
    AssignmentStatus,
    ChainEvent,
    Dispute,
    DisputeMove,
    Job,
    JobStatus,
    Provider,
    Spec,
    Verification,
)

PHASES = {0: "none", 1: "bisect", 2: "descend", 3: "reveal", 4: "referee", 5: "settled"}


def entity_keys(contract: str, name: str, args: dict[str, Any]) -> tuple[int | None, str | None, int | None]:
    """(chain job id, provider, dispute id) that a log changes: what a reorg must recompute."""
    job = args.get("jobId")
    dispute = args.get("gameId")
    provider = None
    if contract == "StakeManager" and "provider" in args:
        provider = str(args["provider"]).lower()
    return (int(job) if job is not None else None, provider, int(dispute) if dispute is not None else None)


def _ts(v: Any) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(v), dt.UTC)


def _deactivate(session: Session, job_id: int, status: str) -> None:
    session.execute(
        update(Assignment)
        .where(Assignment.job_id == job_id, Assignment.active.is_(True))
        .values(active=False, status=status)
    )


# ---------------------------------------------------------------- jobs


def _bind_posted(session: Session, ev: ChainEvent) -> Job | None:
    """The awaiting_funding job this JobPosted funds: same client, spec hash, price and shape; oldest first."""
    terms = ev.args["terms"]
    client = str(ev.args["client"]).lower()
    job = session.execute(
        select(Job)
        .where(
            Job.status == JobStatus.AWAITING_FUNDING,
            Job.chain_job_id.is_(None),
            Job.client == client,
            Job.spec_hash == str(terms["specHash"]).lower(),
            Job.price_wei == str(terms["price"]),
            Job.num_steps == int(terms["numSteps"]),
            Job.checkpoint_every == int(terms["checkpointEvery"]),
            Job.ops_per_step == int(terms["opsPerStep"]),
        )
        .order_by(Job.id)
        .limit(1)
        .with_for_update()
    ).scalar_one_or_none()
    if job is None:
        return None
    job.chain_job_id = int(ev.args["jobId"])
    # The client may have chosen its own collateral/deadline; the chain's terms are what count.
    job.collateral_wei = str(terms["collateral"])
    job.deadline_at = _ts(terms["deadline"])
    return job


UNKNOWN_SPEC = "the coordinator does not know this job's spec, so no provider can run it; its client can cancel it"


def _adopt_posted(session: Session, ev: ChainEvent) -> Job:
    """A JobPosted that no awaiting job claims (a raw postJob, or a client's second escrow of one job): a job row
    of its own, so the escrow is shown to its client and can be cancelled and refunded like any other."""
    terms = ev.args["terms"]
    digest = str(terms["specHash"]).lower()
    spec = session.get(Spec, digest)
    if spec is None:
        # The row the foreign key needs; num_params 0 keeps the job out of matching (nobody could run it).
        spec = Spec(spec_hash=digest, canonical_json="", num_params=0)
        session.add(spec)
        session.flush()
    posted_at = ev.block_time or dt.datetime.now(dt.UTC)
    deadline = _ts(terms["deadline"])
    job = Job(
        client=str(ev.args["client"]).lower(),
        spec_hash=digest,
        price_wei=str(terms["price"]),
        collateral_wei=str(terms["collateral"]),
        deadline_s=max(0, int((deadline - posted_at).total_seconds())),
        deadline_at=deadline,
        num_steps=int(terms["numSteps"]),
        checkpoint_every=int(terms["checkpointEvery"]),
        ops_per_step=int(terms["opsPerStep"]),
        num_params=spec.num_params,
        repops_version=_repops_version(session),
        status=JobStatus.AWAITING_FUNDING,
        chain_job_id=int(ev.args["jobId"]),
        wait_reason=None if spec.canonical_json else UNKNOWN_SPEC,
        created_at=posted_at,
        updated_at=posted_at,
    )
    session.add(job)
    session.flush()
    timeline.record(
        session, job.id, "coordinator", "adopted",
        "escrow posted on-chain without a coordinator job; indexed as this job"
        + ("" if spec.canonical_json else f" ({UNKNOWN_SPEC})"),
        {"chain_job_id": job.chain_job_id},
    )
    return job


def _repops_version(session: Session) -> str:
    latest = session.execute(select(Job.repops_version).order_by(Job.id.desc()).limit(1)).scalar_one_or_none()
    return latest or "1"


def apply_job_event(session: Session, ev: ChainEvent) -> None:
    name, a = ev.name, ev.args
    if "jobId" not in a:
        return  # market-wide events (params, credits) change no job
    if name == "JobPosted":
        job = _bind_posted(session, ev)
        if job is None:
            existing = session.execute(
                select(Job).where(Job.chain_job_id == int(a["jobId"]))
            ).scalar_one_or_none()
            job = existing or _adopt_posted(session, ev)
    else:
        job = session.execute(select(Job).where(Job.chain_job_id == int(a["jobId"]))).scalar_one_or_none()
        if job is None:
            return  # a job posted outside this coordinator
    msg = name
    if name == "JobPosted":
        job.status, job.posted_tx = JobStatus.OPEN, ev.tx_hash
        msg = "escrow confirmed on-chain; job is open for matching"
    elif name == "JobAssigned":
        job.status, job.provider, job.accept_by = (
            JobStatus.ASSIGNED,
            str(a["provider"]).lower(),
            _ts(a["acceptBy"]),
        )
        msg = f"assigned to {job.provider}; it must accept by {job.accept_by.isoformat()}"
        session.execute(
            update(Assignment)
            .where(
                Assignment.job_id == job.id, Assignment.active.is_(True), Assignment.provider == job.provider
            )
            .values(status=AssignmentStatus.ASSIGNED)
        )
    elif name == "JobAccepted":
        job.status = JobStatus.RUNNING
        msg = "provider accepted; collateral locked, training"
        session.execute(
            update(Assignment)
            .where(Assignment.job_id == job.id, Assignment.active.is_(True))
            .values(status=AssignmentStatus.ACCEPTED)
        )
    elif name == "ResultSubmitted":
        job.status = JobStatus.SUBMITTED
        job.trace_root, job.final_model_hash = str(a["traceRoot"]), str(a["finalModelHash"])
        msg = f"result submitted; challenge window until {_ts(a['challengeUntil']).isoformat()}"
    elif name == "JobFinalized":
        job.status = JobStatus.FINALIZED
        _deactivate(session, job.id, AssignmentStatus.DONE)
        msg = f"finalized; provider paid {a['payout']} wei"
    elif name == "JobCancelled":
        job.status = JobStatus.CANCELLED
        _deactivate(session, job.id, AssignmentStatus.DONE)
        msg = "cancelled by the client; escrow refunded"
    elif name == "AssignmentExpired":
        job.status, job.provider, job.accept_by = JobStatus.OPEN, None, None
        _deactivate(session, job.id, AssignmentStatus.EXPIRED)
        msg = f"{str(a['provider']).lower()} did not accept in time; open for re-matching"
    elif name == "JobExpired":
        job.status = JobStatus.EXPIRED
        _deactivate(session, job.id, AssignmentStatus.DONE)
        msg = f"deadline passed; client refunded, provider forfeited {a['forfeited']} wei"
    elif name == "JobChallenged":
        job.status = JobStatus.DISPUTED
        job.verification = Verification.DISPUTED
        msg = f"result challenged by {str(a['challenger']).lower()} (dispute {a['gameId']})"
    elif name == "ChallengeSettled":
        # One game of possibly several on the result (PROTOCOL §4). A lost challenge leaves the result standing:
        # once no game on it is open, it waits for the challenge window again (JobMarket: back to Submitted).
        outcome = outcome_name(a["outcome"])
        gid, who = int(a["gameId"]), str(a["challenger"]).lower()
        if outcome == "defender_wins":
            still_open = session.execute(
                select(Dispute.id).where(Dispute.chain_job_id == job.chain_job_id, Dispute.id != gid,
                                         Dispute.outcome.is_(None))
            ).first()
            if still_open is None and job.status == JobStatus.DISPUTED:
                job.status = JobStatus.SUBMITTED
            msg = (f"challenge {gid} by {who} lost: the result stands; its bond went to the provider"
                   + ("" if still_open is None else f" (dispute {still_open[0]} still open)"))
        elif outcome == "moot":
            msg = f"challenge {gid} by {who} ended moot (the result was already decided): its bond went back in full"
        else:
            return  # a decided result: DisputeSettled tells it
    elif name == "DisputeSettled":
        # Only an outcome that decides (or discards) the result comes here; a DefenderWins is a ChallengeSettled.
        outcome = outcome_name(a["outcome"])
        if outcome in ("challenger_wins", "both_lose"):
            job.status = JobStatus.FAILED
        if job.status in JobStatus.TERMINAL:
            _deactivate(session, job.id, AssignmentStatus.DONE)
        msg = f"dispute settled: {outcome}"
    elif name == "JobStalled":
        gone = str(a["provider"]).lower()
        job.status, job.provider, job.accept_by = JobStatus.OPEN, None, None
        # STALLED: the matcher never gives this job back to the provider that let it go silent.
        _deactivate(session, job.id, AssignmentStatus.STALLED)
        msg = (f"{gone} went silent for a whole liveness window: it forfeited {a['forfeited']} wei of its collateral "
               "to the client; the job is open for re-matching and starts over")
    elif name == "JobAbandoned":
        gone = str(a["provider"]).lower()
        job.status, job.provider, job.accept_by = JobStatus.OPEN, None, None
        _deactivate(session, job.id, AssignmentStatus.STALLED)
        # Stored as 0x hex (chain_gateway.jsonable): a short text code, right-padded with zeros.
        raw = bytes.fromhex(str(a.get("reason") or "0x").removeprefix("0x"))
        reason = raw.rstrip(b"\x00").decode(errors="replace")
        msg = (f"{gone} could not run the job and gave it back" + (f" ({reason})" if reason else "")
               + f": it forfeited {a['forfeited']} wei to the client; open for re-matching")
    elif name == "Heartbeat":
        step = int(a.get("step", 0))
        msg = "provider alive on-chain" + (f" at checkpoint step {step}" if step else "")
    elif name == "JobReopened":
        job.status, job.provider, job.accept_by = JobStatus.OPEN, None, None
        _deactivate(session, job.id, AssignmentStatus.DONE)
        msg = "dispute voided; job open again for matching"
    else:
        return
    timeline.record(
        session,
        job.id,
        "chain",
        name,
        msg,
        {"tx_hash": ev.tx_hash, "block": ev.block_number},
        chain_event_id=ev.id,
    )


def reset_job(session: Session, job: Job) -> None:
    """Back to the state before any chain event: awaiting funding, nothing bound."""
    job.status = JobStatus.AWAITING_FUNDING
    job.chain_job_id = None
    job.provider = None
    job.accept_by = None
    job.trace_root = None
    job.final_model_hash = None
    job.posted_tx = None


# ---------------------------------------------------------------- providers


def _provider(session: Session, address: str) -> Provider:
    p = session.get(Provider, address)
    if p is None:
        p = Provider(
            address=address,
            free_stake_wei="0",
            locked_stake_wei="0",
            unbonding_wei="0",
            slashed_wei="0",
            devices=[],
            max_params=0,
            queue_depth=0,
        )
        session.add(p)
        session.flush()
    return p


def apply_stake_event(session: Session, ev: ChainEvent) -> None:
    a = ev.args
    if "provider" not in a:
        return
    p = _provider(session, str(a["provider"]).lower())
    free, locked, unbonding, slashed = (
        int(p.free_stake_wei),
        int(p.locked_stake_wei),
        int(p.unbonding_wei),
        int(p.slashed_wei),
    )
    amount = int(a.get("amount", 0))
    if ev.name == "Staked":
        free = int(a["free"])
    elif ev.name == "UnstakeRequested":
        free -= amount
        unbonding = int(a["unbonding"])
    elif ev.name == "UnstakeWithdrawn":
        unbonding = max(0, unbonding - amount)
    elif ev.name == "StakeLocked":
        free, locked = free - amount, locked + amount
    elif ev.name == "StakeUnlocked":
        free, locked = free + amount, locked - amount
    elif ev.name == "StakeReleased":
        # Finalize: the collateral goes back to free stake; the payout is a credit, not stake.
        unlocked = int(a["unlocked"])
        free, locked = free + unlocked, locked - unlocked
    elif ev.name == "StakeForfeited":
        locked -= amount
    elif ev.name == "StakeSlashed":
        # Same order as StakeManager.slash: locked, then unbonding, then free.
        rest = amount
        take = min(rest, locked)
        locked, rest = locked - take, rest - take
        take = min(rest, unbonding)
        unbonding, rest = unbonding - take, rest - take
        free -= min(rest, free)
        slashed += amount
    else:
        return
    p.free_stake_wei, p.locked_stake_wei = str(max(free, 0)), str(max(locked, 0))
    p.unbonding_wei, p.slashed_wei = str(max(unbonding, 0)), str(slashed)


def reset_provider(p: Provider) -> None:
    p.free_stake_wei = p.locked_stake_wei = p.unbonding_wei = p.slashed_wei = "0"


# ---------------------------------------------------------------- disputes


def apply_game_event(session: Session, ev: ChainEvent) -> None:
    a = ev.args
    gid = int(a["gameId"])
    d = session.get(Dispute, gid)
    if ev.name == "GameOpened":
        if d is None:
            d = Dispute(id=gid, chain_job_id=int(a["jobId"]))
            session.add(d)
        d.defender, d.challenger = str(a["defender"]).lower(), str(a["challenger"]).lower()
        d.phase, d.level, d.lo, d.hi, d.opened_tx = "bisect", 0, 0, int(a["segments"]), ev.tx_hash
    elif d is None:
        return
    elif ev.name == "ElementsRevealed":
        d.phase, d.level, d.lo, d.hi = "bisect", int(a["level"]), int(a["lo"]), int(a["hi"])
    elif ev.name == "RootCommitted":
        d.phase, d.level = "descend", int(a["level"])
    elif ev.name == "OutputRevealed":
        d.phase = "reveal"
    elif ev.name == "RefereeRuled":
        d.phase = "referee"
    elif ev.name == "GameTimedOut":
        d.phase = "timed_out"
    elif ev.name == "GameSettled":
        d.phase, d.outcome = "settled", outcome_name(a["outcome"])
    # The clocks and the deadline are the contract's own (chess clocks: see apply_game_clocks), read by the
    # indexer after each batch; an ended game has none.
    if d.phase in ("settled", "timed_out"):
        d.deadline_at, d.waiting_on = None, None
    session.flush()
    mover = a.get("party")
    session.add(
        DisputeMove(
            dispute_id=gid,
            chain_event_id=ev.id,
            mover=str(mover).lower() if mover else None,
            kind=ev.name,
            tx_hash=ev.tx_hash,
            block_number=ev.block_number,
            args=ev.args,
        )
    )
    job = session.execute(select(Job).where(Job.chain_job_id == d.chain_job_id)).scalar_one_or_none()
    if job is not None:
        timeline.record(
            session,
            job.id,
            "dispute",
            ev.name,
            f"dispute {gid}: {ev.name} ({d.phase})",
            {"tx_hash": ev.tx_hash, "dispute_id": gid, **({"party": str(mover).lower()} if mover else {})},
            chain_event_id=ev.id,
        )


def apply_game_clocks(d: Dispute, st: GameState) -> None:
    """The game's clocks as the contract keeps them (PROTOCOL §6 "Clocks"): each party's seconds left for the
    whole game, when the current round began (both owed clocks run from there), who still owes a move, and the
    deadline from which timeout() settles."""
    d.clock_defender_s, d.clock_challenger_s = st.clock_defender, st.clock_challenger
    d.round_started_at = _ts(st.round_start)
    if st.phase in (GamePhase.SETTLED, GamePhase.NONE):
        d.deadline_at, d.waiting_on = None, None
        return
    d.deadline_at = _ts(st.deadline)
    if st.phase == GamePhase.REFEREE:
        d.waiting_on = "referee"
    else:
        d.waiting_on = {0: "both", 1: "challenger", 2: "defender"}.get(st.moved & 3, None)


def reset_dispute(session: Session, d: Dispute) -> None:
    session.delete(d)


def apply(session: Session, ev: ChainEvent) -> None:
    """Fold one stored event into the derived state."""
    if ev.contract == "JobMarket":
        apply_job_event(session, ev)
    elif ev.contract == "StakeManager":
        apply_stake_event(session, ev)
    elif ev.contract == "DisputeGame" and "gameId" in ev.args:
        apply_game_event(session, ev)

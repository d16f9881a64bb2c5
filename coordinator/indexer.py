"""The chain indexer: follows the market's logs `confirmations` blocks behind the head, stores each once
(keyed by block hash + log index), derives job/provider/dispute state from them, and undoes reorged blocks.

Run as `python -m coordinator.indexer` (AGORA_* settings).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from coordinator import projection
from coordinator.chain_gateway import ChainGateway, jsonable
from coordinator.metrics import Metrics
from coordinator.models import (
    Assignment,
    AssignmentStatus,
    ChainEvent,
    Dispute,
    DisputeMove,
    IndexedBlock,
    IndexerCursor,
    Job,
    JobEvent,
    JobStatus,
    Provider,
)
from coordinator.settings import Settings

log = logging.getLogger(__name__)
CURSOR = "main"
# Block hashes kept to find a fork point; a reorg deeper than this needs a re-index from the deploy block.
KEEP_BLOCKS = 1024


@dataclass
class TickResult:
    events: int = 0
    from_block: int | None = None
    to_block: int | None = None
    reorged_to: int | None = None


class Indexer:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        chain: ChainGateway,
        settings: Settings,
        metrics: Metrics | None = None,
    ) -> None:
        self.sessions = session_factory
        self.chain = chain
        self.settings = settings
        self.metrics = metrics

    # ------------------------------------------------------------ one step

    def tick(self) -> TickResult:
        """Check the stored tip for a reorg, then index the next confirmed batch. Safe to repeat after a crash:
        the batch and the cursor commit together."""
        result = TickResult()
        if self.chain.deployment is None:
            return result  # nothing deployed yet: never advance the cursor past blocks we could not read
        with self.sessions() as session:
            cursor = session.get(IndexerCursor, CURSOR, with_for_update=True)
            if cursor is not None:
                fork = self._fork_point(session, cursor)
                if fork is not None:
                    self._rollback(session, cursor, fork)
                    session.commit()
                    result.reorged_to = fork
                    if self.metrics:
                        self.metrics.reorgs.inc()
                    cursor = session.get(IndexerCursor, CURSOR, with_for_update=True)
            head = self.chain.head()
            target = head - self.settings.confirmations
            start = cursor.block_number + 1 if cursor is not None else self.chain.deploy_block
            if start > target:
                return result
            end = min(target, start + self.settings.indexer_batch_blocks - 1)
            events = self.chain.logs(start, end)
            end_info = self.chain.block_info(end)
            if end_info is None:
                return result
            end_hash = end_info[0]
            # A reorg between getLogs and here would mix forks: check every block that produced logs.
            seen: dict[int, tuple[str, int]] = {end: end_info}
            for ev in events:
                if ev.block_number not in seen:
                    info = self.chain.block_info(ev.block_number)
                    if info is None:
                        return result
                    seen[ev.block_number] = info
                if seen[ev.block_number][0] != ev.block_hash:
                    log.warning("block %s changed while indexing; retrying", ev.block_number)
                    return result
            for ev in events:
                if ev.removed:
                    continue
                self._store(session, ev, seen[ev.block_number][1])
            self._refresh_clocks(session, {int(ev.args["gameId"]) for ev in events if not ev.removed
                                           and ev.contract == "DisputeGame" and "gameId" in ev.args}, end)
            for number, (h, _) in seen.items():
                session.merge(IndexedBlock(number=number, hash=h))
            if cursor is None:
                session.add(IndexerCursor(name=CURSOR, block_number=end, block_hash=end_hash))
            else:
                cursor.block_number, cursor.block_hash = end, end_hash
            session.execute(delete(IndexedBlock).where(IndexedBlock.number < end - KEEP_BLOCKS))
            session.commit()
            result.events, result.from_block, result.to_block = len(events), start, end
            if self.metrics:
                self.metrics.indexed_block.set(end)
        return result

    def catch_up(self, max_ticks: int = 1000) -> int:
        """Tick until nothing confirmed is left; returns the number of events indexed."""
        total = 0
        for _ in range(max_ticks):
            r = self.tick()
            total += r.events
            if r.to_block is None and r.reorged_to is None:
                break
        return total

    def run_forever(self) -> None:
        while True:
            try:
                self.catch_up()
            except Exception:
                log.exception("indexer tick failed")
            time.sleep(self.settings.indexer_poll_s)

    # ------------------------------------------------------------ storing and deriving

    def _store(self, session: Session, ev: object, timestamp: int) -> None:
        from chain.events import ChainEvent as Decoded

        assert isinstance(ev, Decoded)
        args = jsonable(ev.args)
        job_id, provider, dispute_id = projection.entity_keys(ev.contract, ev.name, args)
        exists = session.execute(
            select(ChainEvent.id).where(
                ChainEvent.block_hash == ev.block_hash, ChainEvent.log_index == ev.log_index
            )
        ).scalar_one_or_none()
        if exists is not None:
            return  # already indexed (a retried batch)
        row = ChainEvent(
            block_number=ev.block_number,
            block_hash=ev.block_hash,
            log_index=ev.log_index,
            tx_hash=ev.tx_hash,
            contract=ev.contract,
            name=ev.name,
            args=args,
            chain_job_id=job_id,
            provider=provider,
            dispute_id=dispute_id,
            block_time=dt.datetime.fromtimestamp(timestamp, dt.UTC),
        )
        session.add(row)
        # A second indexer racing on the same log fails this whole batch on the unique key (nothing
        # half-applied: the batch and the cursor commit together) and retries it on its next poll.
        session.flush()
        projection.apply(session, row)
        session.flush()

    def _refresh_clocks(self, session: Session, game_ids: set[int], block: int) -> None:
        """Copy each moved game's chess clocks and deadline from the contract as of `block` (the batch's end): the
        clocks follow from both parties' elements and the time of each move, which only the contract computes."""
        for gid in sorted(game_ids):
            d = session.get(Dispute, gid)
            if d is None:
                continue
            try:
                state = self.chain.game_state(gid, block)
            except Exception:  # noqa: BLE001 - a node without that block's state (pruned): the latest will do
                try:
                    state = self.chain.game_state(gid, "latest")
                except Exception:
                    log.warning("dispute %s: could not read its clocks from the chain", gid, exc_info=True)
                    continue
            projection.apply_game_clocks(d, state)
        session.flush()

    # ------------------------------------------------------------ reorgs

    def _fork_point(self, session: Session, cursor: IndexerCursor) -> int | None:
        """None when the stored tip is still canonical, else the highest stored block that still is."""
        if self.chain.block_hash(cursor.block_number) == cursor.block_hash:
            return None
        blocks = session.execute(
            select(IndexedBlock)
            .where(IndexedBlock.number < cursor.block_number)
            .order_by(IndexedBlock.number.desc())
        ).scalars()
        for b in blocks:
            if self.chain.block_hash(b.number) == b.hash:
                return b.number
        return self.chain.deploy_block - 1

    def _rollback(self, session: Session, cursor: IndexerCursor, fork: int) -> None:
        """Forget every event above `fork` and recompute what they had changed from the events that remain."""
        log.warning("reorg: rolling back blocks above %s", fork)
        gone = list(session.execute(select(ChainEvent).where(ChainEvent.block_number > fork)).scalars())
        job_ids = {e.chain_job_id for e in gone if e.chain_job_id is not None}
        providers = {e.provider for e in gone if e.provider is not None}
        disputes = {e.dispute_id for e in gone if e.dispute_id is not None and e.contract == "DisputeGame"}
        gone_ids = [e.id for e in gone]
        if gone_ids:
            session.execute(delete(JobEvent).where(JobEvent.chain_event_id.in_(gone_ids)))
            session.execute(delete(DisputeMove).where(DisputeMove.chain_event_id.in_(gone_ids)))
            session.execute(delete(ChainEvent).where(ChainEvent.id.in_(gone_ids)))
        session.execute(delete(IndexedBlock).where(IndexedBlock.number > fork))
        fork_hash = self.chain.block_hash(fork) if fork >= 0 else None
        cursor.block_number, cursor.block_hash = fork, fork_hash or "0x" + "00" * 32
        session.flush()
        self._recompute(session, job_ids, providers, disputes)

    def _recompute(
        self, session: Session, job_ids: set[int], providers: set[str], disputes: set[int]
    ) -> None:
        # A job's timeline holds its disputes' moves and a dispute belongs to a job: recompute both together.
        if job_ids:
            disputes |= set(
                session.execute(select(Dispute.id).where(Dispute.chain_job_id.in_(job_ids))).scalars()
            )
        if disputes:
            job_ids |= set(
                session.execute(select(Dispute.chain_job_id).where(Dispute.id.in_(disputes))).scalars()
            )
            job_ids |= {
                e
                for e in session.execute(
                    select(ChainEvent.chain_job_id).where(ChainEvent.dispute_id.in_(disputes))
                ).scalars()
                if e is not None
            }
        jobs = (
            list(session.execute(select(Job).where(Job.chain_job_id.in_(job_ids))).scalars())
            if job_ids
            else []
        )
        for job in jobs:
            # Timeline entries derived from chain events are replayed below; drop the old ones first.
            session.execute(
                delete(JobEvent).where(JobEvent.job_id == job.id, JobEvent.chain_event_id.is_not(None))
            )
            projection.reset_job(session, job)
        for d in (
            session.execute(select(Dispute).where(Dispute.id.in_(disputes))).scalars() if disputes else []
        ):
            session.execute(delete(DisputeMove).where(DisputeMove.dispute_id == d.id))
            projection.reset_dispute(session, d)
        for addr in providers:
            p = session.get(Provider, addr)
            if p is not None:
                projection.reset_provider(p)
        session.flush()
        replay = select(ChainEvent).order_by(ChainEvent.block_number, ChainEvent.log_index)
        conds = []
        if job_ids:
            conds.append(ChainEvent.chain_job_id.in_(job_ids))
        if providers:
            conds.append(ChainEvent.provider.in_(providers))
        if disputes:
            conds.append(ChainEvent.dispute_id.in_(disputes))
        if conds:
            for ev in session.execute(replay.where(or_(*conds))).scalars():
                projection.apply(session, ev)
                session.flush()
        if disputes:
            cursor = session.get(IndexerCursor, CURSOR)
            if cursor is not None and cursor.block_number >= 0:
                self._refresh_clocks(session, disputes, cursor.block_number)
        # An assign tx that the reorg dropped leaves the job open: free it for the matcher again.
        for job in jobs:
            if job.status in (JobStatus.OPEN, JobStatus.AWAITING_FUNDING):
                session.execute(
                    update(Assignment)
                    .where(Assignment.job_id == job.id, Assignment.active.is_(True))
                    .values(active=False, status=AssignmentStatus.FAILED, error="assignment reorged out")
                )


def main() -> None:
    from coordinator.database import make_engine, make_session_factory

    logging.basicConfig(level=logging.INFO)
    settings = Settings()
    chain = ChainGateway.from_settings(settings.rpc_url, settings.chain_id, settings.deployment_file)
    from coordinator.metrics import process_metrics

    Indexer(make_session_factory(make_engine(settings.database_url)), chain, settings,
          metrics=process_metrics("indexer")).run_forever()


if __name__ == "__main__":
    main()

"""The provider's side after submitting: defend every DisputeGame opened against it, and collect payment.

The defender plays each game where this provider is the defender to the end from its own trace (rebuilt
from the job's workspace, replaying from checkpoints for the finer levels) and hands the referee the disputed
op's inputs. A `silent` faulty provider (test behaviour) never answers. The finalizer calls
`JobMarket.finalize` for each of its submitted jobs once the challenge window has closed unchallenged (the
payment lands as a credit in JobMarket; withdrawing is the operator's choice).
"""

from __future__ import annotations

import logging
import threading
import time

from arena.evidence import EvidenceBoard
from arena.player import GamePlayer, GameTable
from arena.topics import event_topic
from chain.dispute_game import DisputeGame
from chain.errors import ContractRevert
from chain.job_market import JobStatus
from worker.bootstrap import WorkerContext
from worker.lease import JobLease, LeaseBusy
from worker.runner import JobRunner

log = logging.getLogger("agora.worker")


class Defender:
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        self.game = DisputeGame(ctx.deployment.address("DisputeGame"), ctx.sender,
                                from_block=ctx.deployment.deploy_block)
        self.board = EvidenceBoard(ctx.api, ctx.settings.broker_url, signer_key=ctx.settings.private_key)
        self.table = GameTable()
        self._seen = 0  # games 1..seen have been looked at
        self._untraced: dict[int, float] = {}  # games whose trace could not be rebuilt yet -> next try

    def discover(self) -> None:
        """Adds games opened against this provider since the last look (and retries ones it could not trace)."""
        count = self.game.game_count()
        me = self.ctx.address.lower()
        for gid in range(self._seen + 1, count + 1):
            st = self.game.state(gid)
            self._seen = gid
            if st.defender.lower() != me or st.settled:
                continue
            fault = self.ctx.settings.fault
            if fault is not None and not fault.answers_disputes:
                log.info("game %d (job %d): FAULT silent — not answering", gid, st.job_id)
                continue
            log.info("game %d (job %d): opened against me by %s; defending", gid, st.job_id, st.challenger)
            self._untraced[gid] = 0.0
        now = time.monotonic()
        for gid, when in list(self._untraced.items()):
            if when > now:
                continue
            st = self.game.state(gid)
            if st.settled:
                del self._untraced[gid]
                continue
            try:
                trace = JobRunner(self.ctx).trace_for(st.job_id)
            except Exception as exc:  # noqa: BLE001 - without our trace we cannot play; try again shortly
                log.error("game %d (job %d): cannot rebuild my trace yet: %s", gid, st.job_id, exc)
                self._untraced[gid] = now + 5.0
                continue
            del self._untraced[gid]
            self.table.add(GamePlayer(self.game, gid, trace, self.board, label="defender"))

    def tick(self) -> bool:
        self.discover()
        return self.table.tick_all()



class Finalizer:
    """Finalizes this provider's unchallenged results once their window closed."""

    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        self.due: dict[int, int] = {}  # chain job id -> challengeUntil
        self.unregistered: set[int] = set()  # submitted jobs whose result artifacts may not be registered yet
        self._next_register = 0.0
        self._next_block: int | None = None

    def _scan(self) -> None:
        w3, market = self.ctx.w3, self.ctx.market
        if self._next_block is None:
            self._next_block = self.ctx.deployment.deploy_block
        head = int(w3.eth.block_number)
        if head < self._next_block:
            return
        raw = w3.eth.get_logs({"address": market.address, "fromBlock": self._next_block, "toBlock": head,
                               "topics": [event_topic("JobMarket", "ResultSubmitted")]})  # type: ignore[list-item]
        me = self.ctx.address.lower()
        for ev in self.ctx.sender.decoder.decode_all(raw):
            if ev.name != "ResultSubmitted" or ev.removed:
                continue
            cid = int(ev.args["jobId"])
            provider = ev.args.get("provider") or market.job(cid).provider
            if provider is not None and str(provider).lower() == me:
                self.due[cid] = int(ev.args["challengeUntil"])
                self.unregistered.add(cid)
        self._next_block = head + 1

    def _register(self) -> None:
        """Registers result artifacts the task could not (the coordinator was down at the time); every 5 s."""
        if time.monotonic() < self._next_register:
            return
        self._next_register = time.monotonic() + 5.0
        for cid in list(self.unregistered):
            ws = self.ctx.workspace(cid)
            m = ws.manifest()
            if m.artifacts_registered or m.coordinator_job_id is None or m.model_artifact is None:
                self.unregistered.discard(cid)
                continue
            JobRunner(self.ctx).register_artifacts(m.coordinator_job_id, ws)
            if ws.manifest().artifacts_registered:
                self.unregistered.discard(cid)

    def tick(self) -> None:
        self._scan()
        self._register()
        if not self.due:
            return
        # Chain time, not ours: finalize() is judged by block.timestamp.
        now = int(self.ctx.w3.eth.get_block("latest")["timestamp"])
        for cid, until in list(self.due.items()):
            if now <= until:
                continue
            status = self.ctx.market.status(cid)
            if status == JobStatus.DISPUTED:
                continue  # games are open; a result they do not prove wrong is finalized once they have settled
            if status != JobStatus.SUBMITTED:
                del self.due[cid]  # failed, reopened, or finalized by someone else
                continue
            try:
                self.ctx.market.finalize(cid)
            except ContractRevert as exc:
                log.warning("job %d: finalize refused: %s", cid, exc)
                continue
            del self.due[cid]
            log.info("job %d: finalized; payment credited to %s", cid, self.ctx.address)


def defender_loop(ctx: WorkerContext, stop: threading.Event) -> None:
    """Defends and finalizes for this provider. Several worker processes of one provider elect one defender
    through a Redis lease (the others stand by and take over within a lease TTL if it dies)."""
    defender: Defender | None = None
    while defender is None and not stop.is_set():
        try:
            defender = Defender(ctx)
            lease = JobLease(ctx.redis, f"agora:defender:{ctx.market_key}:{ctx.address.lower()}",
                             ctx.settings.lease_ttl_s)
        except Exception as exc:  # noqa: BLE001 - the node or the deployment file is not there yet
            defender = None
            log.warning("dispute defender waiting for the chain: %s", exc)
            stop.wait(max(ctx.settings.dispute_poll_s, 2.0))
    if defender is None:
        return
    while not stop.is_set():
        lease = JobLease(ctx.redis, lease.key, ctx.settings.lease_ttl_s)
        while not stop.is_set():
            try:
                lease.__enter__()
                break
            except LeaseBusy:
                stop.wait(ctx.settings.lease_ttl_s / 2)  # another process of this provider defends
        else:
            return
        _defend_while_held(ctx, defender, lease, stop)


def _defend_while_held(ctx: WorkerContext, defender: Defender, lease: JobLease, stop: threading.Event) -> None:
    log.info("dispute defender and finalizer running for %s", ctx.address)
    finalizer = Finalizer(ctx)
    last_finalize = 0.0
    try:
        while not stop.is_set():
            if lease.lost:  # another process of this provider defends now; stand by again
                log.warning("defender lease lost; standing by")
                return
            try:
                moved = defender.tick()
                if time.monotonic() - last_finalize >= 1.0:
                    last_finalize = time.monotonic()
                    finalizer.tick()
            except Exception as exc:  # noqa: BLE001 - keep defending through node/coordinator blips
                log.warning("defender: %s", exc)
                moved = False
            if not moved:
                stop.wait(ctx.settings.dispute_poll_s)
    finally:
        lease.__exit__(None, None, None)

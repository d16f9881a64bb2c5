"""The verifier process: watches jobs on-chain, re-runs them by policy, challenges a trace root it cannot
reproduce (with the market's bond) and plays the dispute game to the end from its own trace.

Re-runs start as soon as a provider accepts a job (JobAccepted), on a background thread, so the verifier's
own result is usually ready when the provider submits and the challenge window is spent only on comparing;
live games are ticked on the main loop meanwhile. It challenges exactly what it can win: a result whose final
model hash differs from its own (whatever the roots); a right model with another trace root is recorded as
"not_challenged". One log line and one timeline entry (POST /v1/jobs/{id}/verification) per decision (skipped /
agrees / not_challenged / challenged / reverifying / late / failed), one log line per move. A result submitted
again after a voided game is judged again.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from eth_utils import keccak

from arena.evidence import EvidenceBoard
from arena.player import GamePlayer, GameTable
from arena.topics import event_topic
from chain.errors import ChainError, ContractRevert
from chain.job_market import JobStatus
from client.api import ApiError
from client.job_inputs import fetch_job_inputs
from verde.runner import RunResult, run_spec
from verde.spec import JobSpec, parse_spec
from verifier.chain_context import ChainContext, find_job
from verifier.evaluation_check import evaluation_note
from verifier.policy import challenge_decision, decide
from verifier.settings import VerifierSettings

log = logging.getLogger("agora.verifier")


@dataclass(frozen=True)
class Verdict:
    chain_job_id: int
    action: str  # skipped | agrees | not_challenged | challenged | late | failed (the timeline's `decision`)
    reason: str = ""
    game_id: int | None = None
    my_root: str | None = None


@dataclass
class Plan:
    job_id: int
    spec: JobSpec
    reason: str
    run: Future[RunResult]
    started: float


class VerifierService:
    def __init__(self, settings: VerifierSettings) -> None:
        self.settings = settings
        self.ctx = ChainContext(settings)
        self.table = GameTable()
        self.board = EvidenceBoard(self.ctx.api, settings.broker_url, signer_key=settings.private_key)
        self.verdicts: dict[int, Verdict] = {}
        self.plans: dict[int, Plan] = {}
        self._job_ids: dict[int, int] = {}
        self._next_block: int | None = None
        self._unplanned: set[int] = set()  # seen on-chain, not yet known to the coordinator
        self._submitted: dict[int, int] = {}  # chain job id -> challengeUntil, awaiting a verdict
        self._runner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agora-rerun")
        self._games_seen = 0
        self._rebuilding: dict[int, Future[RunResult]] = {}  # game id -> re-run rebuilding our trace
        self._submissions: dict[int, tuple[int, int]] = {}  # chain job id -> (block, log index) of its last submit
        self._reruns: dict[int, RunResult] = {}  # chain job id -> our re-run of a job we challenged (a Void reopens it)

    # ------------------------------------------------------------------ discovery

    def _scan(self) -> None:
        w3 = self.ctx.w3
        if self._next_block is None:
            self._next_block = self.ctx.deployment.deploy_block
        head = int(w3.eth.block_number)
        if head < self._next_block:
            return
        topics = [event_topic("JobMarket", "JobAccepted"), event_topic("JobMarket", "ResultSubmitted")]
        raw = w3.eth.get_logs({"address": self.ctx.market.address, "fromBlock": self._next_block, "toBlock": head,
                               "topics": [topics]})  # type: ignore[list-item]
        for ev in self.ctx.sender.decoder.decode_all(raw):
            if ev.removed:
                continue
            cid = int(ev.args["jobId"])
            if ev.name == "ResultSubmitted":
                where = (ev.block_number, ev.log_index)
                known = self._submissions.get(cid)
                self._submissions[cid] = where
                if known is not None and known != where and cid in self.verdicts:
                    # Submitted again (after a voided game): the new result is judged afresh.
                    self._reverify(cid)
                if cid not in self.verdicts:
                    self._submitted[cid] = int(ev.args["challengeUntil"])
            if ev.name in ("JobAccepted", "ResultSubmitted") and cid not in self.plans and cid not in self.verdicts:
                self._unplanned.add(cid)
        self._next_block = head + 1

    # ------------------------------------------------------------------ planning and re-running

    def _plan(self, cid: int) -> bool:
        """Decides by policy and starts the re-run; False when the coordinator does not know the job yet."""
        status = self.ctx.market.status(cid)
        if status not in (JobStatus.RUNNING, JobStatus.SUBMITTED):  # e.g. history seen after a restart
            self._record(Verdict(cid, "skipped", f"{status.name.lower()} on-chain"))
            return True
        job_id = find_job(self.ctx.api, cid, self._job_ids)
        if job_id is None:
            return False
        terms = self.ctx.market.terms(cid)
        raw = self.ctx.api.spec_bytes(job_id)
        if keccak(raw) != terms.spec_hash:
            self._record(Verdict(cid, "failed", "coordinator spec does not match the on-chain specHash"), job_id)
            return True
        spec = parse_spec(raw)
        decision = decide(spec, self.ctx.address, cid, terms.spec_hash, always=self.settings.always)
        if not decision.verify:
            self._record(Verdict(cid, "skipped", f"policy ({decision.draw:.3f} ≥ spot_check)"), job_id)
            return True
        if cid in self._reruns:  # a re-submission: our run of the same spec is the same run
            future: Future[RunResult] = Future()
            future.set_result(self._reruns[cid])
        else:
            data = fetch_job_inputs(self.ctx.api, spec)  # the dataset; a graph job's graph and weights too
            fault = self.settings.fault
            future = self._runner.submit(run_spec, spec, data=data, device=self.settings.device,
                                         fault=fault.verde_fault(spec) if fault else None)
        self.plans[cid] = Plan(job_id, spec, decision.reason, future, time.perf_counter())
        log.info("job %d: re-running (%s)", cid, decision.reason)
        return True

    # ------------------------------------------------------------------ judging submitted results

    def _judge(self, cid: int, challenge_until: int) -> Verdict | None:
        """Compares a finished re-run with the submitted result and challenges; None while the re-run runs."""
        plan = self.plans.get(cid)
        if plan is None or not plan.run.done():
            return None
        market = self.ctx.market
        # Several challengers may play parallel games on one result: a Disputed job is still challengeable.
        if market.status(cid) not in (JobStatus.SUBMITTED, JobStatus.DISPUTED):
            return self._record(Verdict(cid, "skipped", "no longer submitted"))
        try:
            result = plan.run.result()
        except Exception as exc:  # noqa: BLE001 - a re-run that cannot complete is a verdict, not a crash
            return self._record(Verdict(cid, "failed", f"re-run failed: {exc}"))
        took = time.perf_counter() - plan.started
        submitted = market.result(cid)
        mine = result.trace_root
        decision, why = challenge_decision(mine, result.final_model_hash, submitted.trace_root,
                                           submitted.final_model_hash)
        if decision == "agrees":
            note = evaluation_note(self.ctx.api, plan.job_id, plan.spec.steps, result.eval_loss, result.accuracy)
            return self._record(Verdict(cid, "agrees", f"{plan.reason}; re-run {took:.2f}s{note}", my_root=_hex(mine)))
        if decision == "not_challenged":
            return self._record(Verdict(cid, "not_challenged", why, my_root=_hex(mine)))
        if self.ctx.chain_now() > challenge_until:
            return self._record(Verdict(cid, "late", "challenge window closed", my_root=_hex(mine)))
        try:
            receipt = market.challenge(cid, mine, trace_root=submitted.trace_root,
                                       final_model_hash=submitted.final_model_hash)
        except ContractRevert as exc:
            return self._record(Verdict(cid, "failed", f"challenge refused: {exc}", my_root=_hex(mine)))
        game_id = int(receipt.event("JobChallenged").args["gameId"])
        self._reruns[cid] = result  # kept only for what we challenged: a Void brings that job back
        self.table.add(GamePlayer(self.ctx.game, game_id, result.trace, self.board, label="challenger"))
        fault = self.settings.fault
        tag = f" [FAULT {fault}]" if fault else ""
        return self._record(Verdict(cid, "challenged", f"{plan.reason}; {why}{tag}", game_id, _hex(mine)))

    def _reverify(self, cid: int) -> None:
        """A result submitted again after a Void: forget the old verdict and plan the job again."""
        old = self.verdicts.pop(cid, None)
        self._unplanned.add(cid)
        log.info("job %d: re-submitted; re-verifying", cid)
        self._timeline(cid, Verdict(cid, "reverifying", "re-submitted after a voided game",
                                    old.game_id if old else None))

    def _record(self, v: Verdict, job_id: int | None = None) -> Verdict:
        self.verdicts[v.chain_job_id] = v
        self._submitted.pop(v.chain_job_id, None)
        plan = self.plans.pop(v.chain_job_id, None)
        if plan is not None:
            plan.run.cancel()
            job_id = plan.job_id
        log.info("job %d: %s%s%s", v.chain_job_id, v.action, f" ({v.reason})" if v.reason else "",
                 f" game {v.game_id}" if v.game_id else "")
        self._timeline(v.chain_job_id, v, job_id)
        return v

    def _timeline(self, cid: int, v: Verdict, job_id: int | None = None) -> None:
        """The decision onto the job's timeline (kind "verification"); a coordinator blip only costs the entry."""
        try:
            job_id = job_id if job_id is not None else find_job(self.ctx.api, cid, self._job_ids)
            if job_id is not None:
                self.ctx.api.report_verification(job_id, v.action, v.reason, v.game_id)
        except ApiError as exc:
            log.warning("job %d: decision not on the timeline: %s", cid, exc)

    # ------------------------------------------------------------------ games we challenged before a restart

    def _resume_games(self) -> None:
        """Finds unsettled games where we are the challenger but hold no trace (a restarted verifier) and plays
        them again once a re-run has rebuilt the trace (deterministic, so it is the one we committed to)."""
        game = self.ctx.game
        count = game.game_count()
        me = self.ctx.address.lower()
        for gid in range(self._games_seen + 1, count + 1):
            self._games_seen = gid
            if gid in self.table.players:
                continue
            st = game.state(gid)
            if st.challenger.lower() != me or st.settled:
                continue
            job_id = find_job(self.ctx.api, st.job_id, self._job_ids)
            if job_id is None:
                self._games_seen = gid - 1  # the coordinator does not know the job yet: look again
                return
            spec = parse_spec(self.ctx.api.spec_bytes(job_id))
            data = fetch_job_inputs(self.ctx.api, spec)
            fault = self.settings.fault
            self._rebuilding[gid] = self._runner.submit(run_spec, spec, data=data, device=self.settings.device,
                                                        fault=fault.verde_fault(spec) if fault else None)
            log.info("game %d (job %d): resuming as challenger; rebuilding my trace", gid, st.job_id)
        for gid, future in list(self._rebuilding.items()):
            if future.done():
                del self._rebuilding[gid]
                self.table.add(GamePlayer(game, gid, future.result().trace, self.board, label="challenger"))

    # ------------------------------------------------------------------ the loop

    def tick(self) -> bool:
        moved = self.table.tick_all()
        self._scan()
        self._resume_games()
        for cid in sorted(self._unplanned):
            try:
                if self._plan(cid):
                    self._unplanned.discard(cid)
            except (ApiError, ChainError) as exc:
                log.warning("job %d: verification postponed: %s", cid, exc)
        for cid, until in list(self._submitted.items()):
            try:
                self._judge(cid, until)
            except (ApiError, ChainError) as exc:
                log.warning("job %d: verdict postponed: %s", cid, exc)
        return moved

    def run(self, stop: threading.Event) -> None:
        log.info("verifier %s watching %s%s", self.ctx.address, self.ctx.market.address,
                 f" — FAULT {self.settings.fault} (test behaviour)" if self.settings.fault else "")
        last_scan = 0.0
        try:
            while not stop.is_set():
                try:
                    if time.monotonic() - last_scan >= self.settings.poll_s:
                        last_scan = time.monotonic()
                        moved = self.tick()
                    else:
                        moved = self.table.tick_all()
                        for cid, until in list(self._submitted.items()):
                            self._judge(cid, until)
                except Exception as exc:  # noqa: BLE001 - a node or coordinator blip must not stop the watcher
                    log.warning("verifier: %s", exc)
                    moved = False
                if not moved:
                    stop.wait(self.settings.game_poll_s)
        finally:
            self._runner.shutdown(wait=False, cancel_futures=True)


def _hex(b: bytes) -> str:
    return "0x" + b.hex()

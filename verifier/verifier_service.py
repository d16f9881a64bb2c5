"""The verifier process: watches submitted results on-chain, re-runs them by policy, challenges a trace root it
cannot reproduce (with the market's bond) and plays the dispute game to the end from its own trace.

One log line per decision (skipped / agrees / challenged) and per move.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from eth_utils import keccak

from chain.errors import ChainError, ContractRevert
from chain.job_market import JobStatus
from client.api import ApiError
from verde.runner import run_spec
from verde.spec import parse_spec
from verifier.chain_context import ChainContext, event_topic, find_job
from verifier.evidence import EvidenceBoard
from verifier.player import GamePlayer, GameTable
from verifier.policy import decide
from verifier.settings import VerifierSettings

log = logging.getLogger("agora.verifier")



@dataclass(frozen=True)
class Verdict:
    chain_job_id: int
    action: str  # skipped | agrees | challenged | late | failed
    reason: str = ""
    game_id: int | None = None
    my_root: str | None = None


class VerifierService:
    def __init__(self, settings: VerifierSettings) -> None:
        self.settings = settings
        self.ctx = ChainContext(settings)
        self.table = GameTable()
        self.board = EvidenceBoard(self.ctx.api, settings.broker_url)
        self.verdicts: dict[int, Verdict] = {}
        self._job_ids: dict[int, int] = {}
        self._next_block: int | None = None
        self._pending: list[tuple[int, int]] = []  # (chain job id, challengeUntil) seen but not yet decided

    # ------------------------------------------------------------------ discovery

    def _scan(self) -> None:
        w3 = self.ctx.w3
        if self._next_block is None:
            self._next_block = self.ctx.deployment.deploy_block
        head = int(w3.eth.block_number)
        if head < self._next_block:
            return
        raw = w3.eth.get_logs({"address": self.ctx.market.address, "fromBlock": self._next_block, "toBlock": head,
                               "topics": [event_topic("JobMarket", "ResultSubmitted")]})  # type: ignore[list-item]
        for ev in self.ctx.sender.decoder.decode_all(raw):
            if ev.name == "ResultSubmitted" and not ev.removed:
                cid = int(ev.args["jobId"])
                if cid not in self.verdicts:
                    self._pending.append((cid, int(ev.args["challengeUntil"])))
        self._next_block = head + 1

    # ------------------------------------------------------------------ one job

    def consider(self, cid: int, challenge_until: int) -> Verdict | None:
        """Decides and acts on one submitted job; None when the coordinator does not know it yet."""
        market = self.ctx.market
        if market.status(cid) != JobStatus.SUBMITTED:
            return self._record(Verdict(cid, "skipped", "no longer submitted"))
        job_id = find_job(self.ctx.api, cid, self._job_ids)
        if job_id is None:
            return None
        terms = market.terms(cid)
        raw = self.ctx.api.spec_bytes(job_id)
        if keccak(raw) != terms.spec_hash:
            return self._record(Verdict(cid, "failed", "coordinator spec does not match the on-chain specHash"))
        spec = parse_spec(raw)
        me = self.ctx.address
        decision = decide(spec, me, cid, terms.spec_hash, always=self.settings.always)
        if not decision.verify:
            return self._record(Verdict(cid, "skipped", f"policy ({decision.draw:.3f} ≥ spot_check)"))
        submitted = market.result(cid)
        data = self.ctx.api.dataset_bytes(spec.dataset.id) if spec.dataset.id.startswith("sha256:") else None
        fault = self.settings.fault
        t0 = time.perf_counter()
        result = run_spec(spec, data=data, device=self.settings.device,
                          fault=fault.verde_fault(spec) if fault else None)
        took = time.perf_counter() - t0
        mine = result.trace_root
        if mine == submitted.trace_root:
            if result.final_model_hash != submitted.final_model_hash:
                log.warning("job %d: trace root reproduced but final model hash differs (not disputable on-chain)",
                            cid)
            return self._record(Verdict(cid, "agrees", f"{decision.reason}; re-run {took:.2f}s", my_root=_hex(mine)))
        if self.ctx.chain_now() > challenge_until:
            return self._record(Verdict(cid, "late", "challenge window closed", my_root=_hex(mine)))
        try:
            receipt = market.challenge(cid, mine, trace_root=submitted.trace_root,
                                       final_model_hash=submitted.final_model_hash)
        except ContractRevert as exc:
            return self._record(Verdict(cid, "failed", f"challenge refused: {exc}", my_root=_hex(mine)))
        game_id = int(receipt.event("JobChallenged").args["gameId"])
        self.table.add(GamePlayer(self.ctx.game, game_id, result.trace, self.board, label="challenger"))
        tag = f" [FAULT {fault}]" if fault else ""
        return self._record(Verdict(cid, "challenged", f"{decision.reason}; roots differ{tag}", game_id, _hex(mine)))

    def _record(self, v: Verdict) -> Verdict:
        self.verdicts[v.chain_job_id] = v
        log.info("job %d: %s%s%s", v.chain_job_id, v.action, f" ({v.reason})" if v.reason else "",
                 f" game {v.game_id}" if v.game_id else "")
        return v

    # ------------------------------------------------------------------ the loop

    def tick(self) -> bool:
        moved = self.table.tick_all()
        self._scan()
        still: list[tuple[int, int]] = []
        for cid, until in self._pending:
            if cid in self.verdicts:
                continue
            try:
                if self.consider(cid, until) is None:
                    still.append((cid, until))
            except (ApiError, ChainError) as exc:
                log.warning("job %d: verification postponed: %s", cid, exc)
                still.append((cid, until))
            moved |= self.table.tick_all()  # keep live games moving between long re-runs
        self._pending = still
        return moved

    def run(self, stop: threading.Event) -> None:
        log.info("verifier %s watching %s%s", self.ctx.address, self.ctx.market.address,
                 f" — FAULT {self.settings.fault} (test behaviour)" if self.settings.fault else "")
        last_scan = 0.0
        while not stop.is_set():
            try:
                if time.monotonic() - last_scan >= self.settings.poll_s:
                    last_scan = time.monotonic()
                    moved = self.tick()
                else:
                    moved = self.table.tick_all()
            except Exception as exc:  # noqa: BLE001 - a node or coordinator blip must not stop the watcher
                log.warning("verifier: %s", exc)
                moved = False
            if not moved:
                stop.wait(self.settings.game_poll_s)


def _hex(b: bytes) -> str:
    return "0x" + b.hex()

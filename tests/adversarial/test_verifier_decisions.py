"""The honest verifier process (`VerifierService`, real chain session, real games) against liars that try to
exploit its decisions: a Void that would be a free pass (the job comes back with the same lie — the verifier
re-verifies the re-submission and wins), and a right model under a tampered root (bait for a challenge that
cannot be won — the verifier declines it). Every decision lands on the job's timeline."""

from __future__ import annotations

import time

import pytest
import redis

from arena.evidence import EvidenceBoard
from chain.dispute_game import GameOutcome
from chain.job_market import JobStatus
from tests.services import machine_redis_url
from verde.interpreter import Fault
from verde.merkle import MerkleTree
from verde.runner import run_spec
from verifier.settings import VerifierSettings
from verifier.verifier_service import VerifierService

from .conftest import SPEC, SPEC_BYTES, Table, player
from .liars import ShelfCoordinator, TamperedInterior

pytestmark = [pytest.mark.integration]

BOARD_URL = machine_redis_url()  # a database of this process's own: game addresses repeat across snapshots


class TimelineShelf(ShelfCoordinator):
    """The coordinator as the verifier sees it, recording what it posts to the timeline."""

    def __init__(self) -> None:
        super().__init__(SPEC_BYTES)
        self.reports: list[tuple[int, str, str, int | None]] = []

    def report_verification(self, job_id: int, decision: str, reason: str = "", game_id: int | None = None):
        self.reports.append((job_id, decision, reason, game_id))
        return {}


@pytest.fixture()
def shelf() -> TimelineShelf:
    r = redis.Redis.from_url(BOARD_URL)
    for key in r.scan_iter("agora:evidence:*"):
        r.delete(key)
    return TimelineShelf()


def verifier_of(t: Table, shelf: TimelineShelf) -> VerifierService:
    who = t.cast.verifier
    settings = VerifierSettings(private_key=who.private_key, rpc_url=t.anvil.rpc_url,
                                deployment_file=t.deployment.path, broker_url=BOARD_URL, always=True)
    svc = VerifierService(settings)
    svc.ctx.__dict__["api"] = shelf  # the coordinator's REST API, as an in-memory shelf
    svc.board = EvidenceBoard(shelf, BOARD_URL, signer_key=who.private_key)  # type: ignore[arg-type]
    return svc


def until_decided(svc: VerifierService, cid: int, n: int) -> None:
    """Ticks the verifier until it has made `n` decisions about `cid` (its re-run runs on a thread)."""
    for _ in range(600):
        svc.tick()
        if sum(1 for r in svc.ctx.api.reports if r[0] == cid) >= n:  # type: ignore[attr-defined]
            return
        time.sleep(0.05)
    raise AssertionError(f"verifier never decided job {cid}: {svc.ctx.api.reports}")  # type: ignore[attr-defined]


class ServiceTicker:
    """The verifier process's loop, as `Table.play` ticks a player."""

    def __init__(self, svc: VerifierService) -> None:
        self.svc = svc

    def tick(self):  # type: ignore[no-untyped-def]
        from arena.responder import Action

        return Action.MOVED if self.svc.tick() else Action.WAITING


def test_a_void_is_no_free_pass_the_resubmitted_lie_is_verified_again(table8: Table, honest, shelf):
    t, c = table8, table8.cast
    liar = run_spec(SPEC, fault=Fault(step=8, op_index=5))
    cid = t.submitted_job(liar.trace_root, liar.final_model_hash, honest.trace.n_ops)
    shelf.chain_job_ids.append(cid)
    svc = verifier_of(t, shelf)
    until_decided(svc, cid, 1)
    first = svc.verdicts[cid]
    assert first.action == "challenged" and first.game_id is not None
    # The referee stays silent: the game is voided, the job reopens.
    liar_player = player(t, c.provider, first.game_id, liar.trace, label="liar")
    assert t.play(first.game_id, [liar_player, ServiceTicker(svc)], None, stall_after=3) == GameOutcome.VOID
    assert t.market(c.client).status(cid) == JobStatus.OPEN
    # The same liar gets the job again and submits the same lie: it is judged again, and loses.
    t.market(c.matcher).assign(cid, c.provider.address)
    t.market(c.provider).accept(cid)
    t.market(c.provider).submit_result(cid, liar.trace_root, liar.final_model_hash)
    until_decided(svc, cid, 3)
    decisions = [r[1] for r in shelf.reports if r[0] == cid]
    assert decisions == ["challenged", "reverifying", "challenged"], shelf.reports
    second = svc.verdicts[cid]
    assert second.game_id is not None and second.game_id != first.game_id
    liar_player = player(t, c.provider, second.game_id, liar.trace, label="liar")
    ref = t.referee(lambda s, j: honest.trace.op_inputs(s, j))
    assert t.play(second.game_id, [liar_player, ServiceTicker(svc)], ref) == GameOutcome.CHALLENGER_WINS
    assert t.market(c.client).status(cid) == JobStatus.FAILED
    t.assert_honest_whole("verifier", "client", liars=("provider",))
    t.assert_conserved()


def test_a_right_model_under_a_tampered_root_is_not_challenged(table8: Table, honest, shelf):
    t, c = table8, table8.cast
    tampered = MerkleTree(TamperedInterior(honest.trace, position=2).leaves(0, 0)).root
    cid = t.submitted_job(tampered, honest.final_model_hash, honest.trace.n_ops)
    shelf.chain_job_ids.append(cid)
    games_before = t.game(c.client).game_count()
    svc = verifier_of(t, shelf)
    until_decided(svc, cid, 1)
    assert [(r[1], r[2]) for r in shelf.reports if r[0] == cid] == [
        ("not_challenged", "model matches, root differs: not challenged")]
    assert t.game(c.client).game_count() == games_before  # no bond staked on a game it could not win
    t.finish(cid)
    assert t.market(c.client).status(cid) == JobStatus.FINALIZED
    assert t.net()["verifier"] == 0
    t.assert_conserved()

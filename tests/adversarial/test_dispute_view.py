"""What the coordinator shows of a dispute is what the contract decided, not a guess.

- Time: after a party spends time on its move, the clocks, the party still owed a move and the deadline from which
  timeout() settles are the game's own (a per-move timeout restarting at each move would show a later deadline
  than the contract enforces, and a party reading it would lose by timeout).
- Parallel games: a challenge that loses leaves the result standing; once no game on it is open the job is
  `submitted` again (waiting for the window), and the timeline says which challenge lost and what its bond did."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from chain.dispute_game import GameOutcome
from chain.job_market import JobStatus
from coordinator.chain_gateway import ChainGateway
from coordinator.database import make_engine, make_session_factory, upgrade_to_head
from coordinator.indexer import Indexer
from coordinator.models import Dispute, Job, JobEvent
from coordinator.settings import Settings
from verde.interpreter import Fault
from verde.runner import run_spec

from .conftest import SPEC, Table, player

pytestmark = [pytest.mark.integration]
THINK_S = 100  # what the challenger spends before its first move


def _ts(v: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(v, dt.UTC)


def _aware(v: dt.datetime | None) -> dt.datetime | None:
    return None if v is None else v if v.tzinfo else v.replace(tzinfo=dt.UTC)


@pytest.fixture()
def indexer(table8: Table, tmp_path: Path) -> Iterator[Indexer]:
    """The coordinator's indexer on its own SQLite database, following table8's deployment."""
    t = table8
    url = f"sqlite:///{tmp_path / 'coordinator.db'}"
    upgrade_to_head(url)
    engine = make_engine(url)
    settings = Settings(database_url=url, rpc_url=t.anvil.rpc_url, chain_id=31337,
                        deployment_file=t.deployment.path, artifact_dir=tmp_path / "artifacts", confirmations=0)
    yield Indexer(make_session_factory(engine), ChainGateway(t.anvil.rpc_url, 31337, t.deployment), settings)
    engine.dispose()


def test_the_dispute_view_follows_the_contracts_chess_clocks(table8: Table, honest, indexer: Indexer):
    t, c = table8, table8.cast
    liar = run_spec(SPEC, fault=Fault(step=6, op_index=5))
    cid = t.submitted_job(liar.trace_root, liar.final_model_hash, honest.trace.n_ops)
    gid = t.challenge(cid, honest.trace_root)
    game = t.game(c.client)
    clock = game.config().clock

    def view() -> Dispute:
        indexer.catch_up()
        with indexer.sessions() as s:
            d = s.get(Dispute, gid)
            assert d is not None
            s.expunge(d)
            return d

    opened = game.state(gid)
    d = view()
    assert (d.clock_defender_s, d.clock_challenger_s, d.waiting_on) == (clock, clock, "both")
    assert _aware(d.deadline_at) == _ts(opened.deadline) == _ts(opened.round_start + clock)

    # The challenger thinks for THINK_S, then moves first: its clock is charged; the defender's alone now decides.
    t.anvil.rpc("evm_increaseTime", [THINK_S])
    honest_player = player(t, c.verifier, gid, honest.trace, label="honest")
    honest_player.tick()
    moved = game.state(gid)
    assert moved.moved == 2, moved  # the challenger's bit: the move landed
    d = view()
    assert d.clock_challenger_s == moved.clock_challenger <= clock - THINK_S
    assert d.clock_defender_s == clock and d.waiting_on == "defender"
    # The defender's deadline did not move with the challenger's move: the round began at the opening.
    assert _aware(d.deadline_at) == _ts(moved.deadline) == _ts(opened.round_start + clock)
    assert _aware(d.round_started_at) == _ts(opened.round_start)

    # The liar answers: the round closes and, in the same transaction, it makes the next round's first move
    # (multicall); the new round began at that move, and the challenger's clock alone decides now.
    player(t, c.provider, gid, liar.trace, label="liar").tick()
    nxt = game.state(gid)
    d = view()
    assert nxt.round_start > opened.round_start and nxt.moved == 1, nxt
    assert d.waiting_on == "challenger"
    assert (d.clock_defender_s, d.clock_challenger_s) == (nxt.clock_defender, nxt.clock_challenger)
    assert _aware(d.deadline_at) == _ts(nxt.round_start + nxt.clock_challenger) == _ts(nxt.deadline)


def test_a_lost_challenge_leaves_the_result_standing_while_another_plays_on(table8: Table, honest, indexer: Indexer):
    t, c = table8, table8.cast
    made_up = run_spec(SPEC, fault=Fault(step=3, op_index=7))
    cid = t.submitted_job(honest.trace_root, honest.final_model_hash, honest.trace.n_ops)
    first = t.challenge(cid, made_up.trace_root, c.liar_verifier)
    second = t.challenge(cid, made_up.trace_root, c.sock)
    referee = t.referee(lambda s, j: made_up.trace.op_inputs(s, j), lambda s, j: honest.trace.op_inputs(s, j))
    assert t.play(first, [player(t, c.provider, first, honest.trace, label="honest"),
                          player(t, c.liar_verifier, first, made_up.trace, label="liar")], referee) == \
        GameOutcome.DEFENDER_WINS
    indexer.catch_up()

    def job() -> Job:
        with indexer.sessions() as s:
            row = s.execute(select(Job).where(Job.chain_job_id == cid)).scalar_one()
            s.expunge(row)
            return row

    def said(gid: int) -> list[str]:
        with indexer.sessions() as s:
            return [e.message for e in s.execute(select(JobEvent).where(JobEvent.job_id == job().id)).scalars()
                    if e.kind == "ChallengeSettled" and f"challenge {gid} " in e.message]

    # One game lost, the other still open: the job is still disputed, and the timeline says why.
    assert job().status == "disputed"
    assert said(first) and "lost: the result stands" in said(first)[0] and f"dispute {second} still open" in \
        said(first)[0]
    assert t.play(second, [player(t, c.provider, second, honest.trace, label="honest"),
                           player(t, c.sock, second, made_up.trace, label="liar")], referee) == \
        GameOutcome.DEFENDER_WINS
    indexer.catch_up()
    # No game open: back to waiting for the challenge window, as the contract has it.
    assert t.market(c.client).status(cid) == JobStatus.SUBMITTED
    assert job().status == "submitted"
    assert said(second) and "still open" not in said(second)[0]

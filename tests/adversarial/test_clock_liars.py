"""Liars that play with time, keys and the rules themselves: silence at every phase, the last-second move,
equivocation attempts, a second key that challenges first (then loses on purpose, or goes silent), and a silent
referee. Full games on anvil against the honest player; the honest side never loses a wei."""

from __future__ import annotations

import pytest

from chain.dispute_game import GameOutcome, GamePhase
from chain.errors import ChainError
from chain.job_market import JobStatus
from verde.interpreter import Fault
from verde.runner import run_spec

from .conftest import SPEC, Table, player
from .liars import LastSecond, SilentAfter

pytestmark = [pytest.mark.integration]


def _liar(step: int = 6, op: int = 5):
    return run_spec(SPEC, fault=Fault(step=step, op_index=op))


def _both_sources(liar, honest):
    return (lambda s, j: liar.trace.op_inputs(s, j)), (lambda s, j: honest.trace.op_inputs(s, j))


@pytest.mark.parametrize("after", [0, 3])
def test_a_provider_silent_from_any_phase_loses(table8: Table, honest, after):
    t, c = table8, table8.cast
    liar = _liar()
    cid = t.submitted_job(liar.trace_root, liar.final_model_hash, honest.trace.n_ops)
    gid = t.challenge(cid, honest.trace_root)
    quiet = SilentAfter(player(t, c.provider, gid, liar.trace, label="liar"), after)
    players = [quiet, player(t, c.verifier, gid, honest.trace, label="honest")]
    assert t.play(gid, players, t.referee(*_both_sources(liar, honest)), stall_after=3) == \
        GameOutcome.CHALLENGER_WINS
    assert quiet.inner.responder.moves() <= after
    t.assert_honest_whole("verifier", "client", liars=("provider",))
    t.assert_conserved()


@pytest.mark.parametrize("after", [2])
def test_a_challenger_silent_from_any_phase_loses(table8: Table, honest, after):
    t, c = table8, table8.cast
    made_up = _liar(3, 7)
    cid = t.submitted_job(honest.trace_root, honest.final_model_hash, honest.trace.n_ops)
    gid = t.challenge(cid, made_up.trace_root, c.liar_verifier)
    quiet = SilentAfter(player(t, c.liar_verifier, gid, made_up.trace, label="liar"), after)
    players = [player(t, c.provider, gid, honest.trace, label="honest"), quiet]
    assert t.play(gid, players, t.referee(*_both_sources(made_up, honest)), stall_after=3) == \
        GameOutcome.DEFENDER_WINS
    t.finish(cid)
    assert t.market(c.client).status(cid) == JobStatus.FINALIZED
    t.assert_honest_whole("provider", liars=("liar_verifier",))
    t.assert_conserved()


def test_the_last_second_mover_cannot_squeeze_the_honest_party(table_ends: Table, honest):
    """The liar waits until the last second of its window before every move; the honest player, answering at once,
    never runs out of time and wins."""
    table = table_ends
    c = table.cast
    liar = _liar(9, 2)
    cid = table.submitted_job(liar.trace_root, liar.final_model_hash, honest.trace.n_ops)
    gid = table.challenge(cid, honest.trace_root)
    late = LastSecond(player(table, c.provider, gid, liar.trace, label="liar"), table.anvil)
    # The honest player looks first each time: it answers a round as soon as it opens, as a live player does.
    players = [player(table, c.verifier, gid, honest.trace, label="honest"), late]
    assert table.play(gid, players, table.referee(*_both_sources(liar, honest))) == GameOutcome.CHALLENGER_WINS
    assert late.warps >= 1  # it really did spend its clock to the last second
    g = table.game(c.client)
    # The waiting cost the liar's clock, never the honest one's (which answered each round at once). Whether
    # the liar's own last-second move still landed in time on a busy machine does not matter: it loses either way.
    assert g.state(gid).clock_challenger >= g.config().clock - 30
    table.assert_honest_whole("verifier", "client", liars=("provider",))
    table.assert_conserved()


def _advance(t: Table, gid: int, players, until) -> None:
    g = t.game(t.cast.client)
    for _ in range(300):
        if until(g.state(gid)):
            return
        for p in players:
            p.tick()
            if until(g.state(gid)):
                return
    raise AssertionError(f"never reached the wanted state: {g.state(gid)}")


def test_equivocation_and_out_of_turn_moves_are_refused(table8: Table, honest):
    """A second reveal in the same round, a descent whose proofs do not open its root, an output hash its own chain
    does not hold, a ruling from a party, a timeout before any clock ran out: each reverts, and the liar still
    loses."""
    t, c = table8, table8.cast
    liar = _liar(5, 6)
    cid = t.submitted_job(liar.trace_root, liar.final_model_hash, honest.trace.n_ops)
    gid = t.challenge(cid, honest.trace_root)
    lp = player(t, c.provider, gid, liar.trace, label="liar")
    hp = player(t, c.verifier, gid, honest.trace, label="honest")
    liar_game = t.game(c.provider)
    with pytest.raises(ChainError):
        liar_game.timeout(gid)  # nobody's clock has run out
    lp.tick()  # the liar reveals first in round one
    st = liar_game.state(gid)
    assert st.moved & 1
    with pytest.raises(ChainError):  # the same round again, other elements
        liar_game.reveal(gid, [b"\x01" * 32] * len(liar_game.positions(gid)), [], [])
    _advance(t, gid, [hp, lp], lambda s: s.phase == GamePhase.DESCEND)
    with pytest.raises(ChainError):
        liar_game.descend(gid, b"\x02" * 32, [], [])
    _advance(t, gid, [hp, lp], lambda s: s.phase == GamePhase.REVEAL)
    with pytest.raises(ChainError):
        liar_game.reveal_output(gid, b"\x03" * 32)
    with pytest.raises(ChainError):
        liar_game.rule(gid, liar_game.state(gid).hi_defender)
    assert t.play(gid, [lp, hp], t.referee(*_both_sources(liar, honest))) == GameOutcome.CHALLENGER_WINS
    t.assert_honest_whole("verifier", "client", liars=("provider",))
    t.assert_conserved()


@pytest.mark.parametrize("sock_plays", [True, False], ids=["loses-on-purpose", "goes-silent"])
def test_a_second_key_that_challenges_first_cannot_shut_out_the_honest_verifier(table8: Table, honest, sock_plays):
    """The provider's own second key challenges its wrong result first, in the submit block's wake, with the
    provider's own root (so it loses at once) or goes silent. The honest verifier challenges after it, wins its
    own game, and the provider is slashed; the sock's game ends without paying the provider (moot, or a bond
    that was the liar's own money). Nothing is paid before the window closes."""
    t, c = table8, table8.cast
    liar = _liar(7, 4)
    cid = t.submitted_job(liar.trace_root, liar.final_model_hash, honest.trace.n_ops)
    sock_gid = t.challenge(cid, liar.trace_root if sock_plays else honest.trace_root, c.sock)
    gid = t.challenge(cid, honest.trace_root)  # the door is still open
    assert sock_gid != gid
    defender = player(t, c.provider, sock_gid, liar.trace, label="liar")
    sock = SilentAfter(player(t, c.sock, sock_gid, liar.trace, label="sock"), 10**6 if sock_plays else 0)
    if sock_plays:
        t.play(sock_gid, [defender, sock], None, stall_after=3)
    assert t.market(c.client).status(cid) != JobStatus.FINALIZED  # never paid while a challenge is open
    players = [player(t, c.provider, gid, liar.trace, label="liar"), player(t, c.verifier, gid, honest.trace)]
    assert t.play(gid, players, t.referee(*_both_sources(liar, honest))) == GameOutcome.CHALLENGER_WINS
    g = t.game(c.client)
    if not g.state(sock_gid).settled:
        g.contract.transact("moot", sock_gid)
    assert g.state(sock_gid).settled
    assert t.market(c.client).status(cid) == JobStatus.FAILED
    net = t.assert_honest_whole("verifier", "client")
    assert net["provider"] + net["sock"] < 0, net  # the liar's two keys together lost
    t.assert_conserved()


def test_a_silent_referee_voids_the_game_and_the_liar_gains_nothing(table8: Table, honest):
    """The referee never rules: the game is Void. Bonds go back, nobody is slashed, and the result is not paid —
    the job is open again, so the lie is never accepted for free."""
    t, c = table8, table8.cast
    liar = _liar(4, 3)
    cid = t.submitted_job(liar.trace_root, liar.final_model_hash, honest.trace.n_ops)
    gid = t.challenge(cid, honest.trace_root)
    players = [player(t, c.provider, gid, liar.trace, label="liar"),
               player(t, c.verifier, gid, honest.trace, label="honest")]
    assert t.play(gid, players, None, stall_after=3) == GameOutcome.VOID
    status = t.market(c.client).status(cid)
    assert status not in (JobStatus.FINALIZED, JobStatus.SUBMITTED), status  # not paid, not left standing
    net = t.net()
    assert net["verifier"] >= 0 and net["provider"] <= 0, net
    ledger = t.ledger
    assert ledger.unaccounted(t.before, ledger.snapshot()) == 0

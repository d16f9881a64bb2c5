"""Whole dispute games on anvil between two real verde traces of one job (one with an injected fault), played by two
Python responders and a Python referee through the real JobMarket/StakeManager; every payout checked to the wei."""

from __future__ import annotations

import pytest

from arena.responder import Action, Responder
from chain.dispute_game import DisputeGame, GameOutcome, GamePhase
from chain.job_market import JobStatus
from verde.bisection import TraceSource
from verde.interpreter import Fault
from verde.runner import run_spec
from verifier.referee import Referee, VerdeOracle

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("chain_snapshot")]

ETHER = 10**18
SPEC = {
    "version": 1,
    "model": {"kind": "mlp", "layers": [64, 24, 16, 10], "activation": "relu"},
    "dataset": {"id": "builtin:digits", "batch_size": 16, "shuffle_seed": 3},
    "loss": "cross_entropy",
    "optimizer": {"kind": "adam", "lr": 0.01},
    "steps": 12,
    "seed": 42,
    "checkpoint_every": 4,
}
FAULT_STEP, FAULT_OP = 7, 5
PRICE, COLLATERAL, STAKE = ETHER, ETHER // 2, 2 * ETHER


@pytest.fixture(scope="module")
def runs():
    honest = run_spec(SPEC)
    faulty = run_spec(SPEC, fault=Fault(step=FAULT_STEP, op_index=FAULT_OP))
    assert honest.trace_root != faulty.trace_root
    return honest, faulty


@pytest.fixture()
def game_as(anvil, deployed):
    def make(account) -> DisputeGame:
        return DisputeGame.connect(deployed, anvil.rpc_url, account.private_key)

    return make


def open_dispute(market_as, stake_as, roles, anvil, defender_root: bytes, challenger_root: bytes, n_ops: int,
                 final_model_hash: bytes):
    """Stake, post, assign, accept, submit (`defender_root`, `final_model_hash`), challenge with `challenger_root`;
    returns the job id. The defender's first reveal must bind `final_model_hash` to its L[S] (PROTOCOL §7)."""
    stake_as(roles.provider).stake(STAKE)
    posted = market_as(roles.client).post_job(
        spec_hash=b"\x11" * 32, num_steps=SPEC["steps"], checkpoint_every=SPEC["checkpoint_every"],
        ops_per_step=n_ops, collateral=COLLATERAL, deadline=anvil.timestamp() + 3600, price=PRICE,
    )
    job_id = posted.job_id
    market_as(roles.matcher).assign(job_id, roles.provider.address)
    provider = market_as(roles.provider)
    provider.accept(job_id)
    provider.submit_result(job_id, defender_root, final_model_hash)
    market_as(roles.challenger).challenge(job_id, challenger_root)
    return job_id


def play(parties: list[Responder], referee: Referee | None, game_id: int, limit: int = 400) -> None:
    for _ in range(limit):
        for p in parties:
            if p.step() == Action.SETTLED:
                return
        if referee is not None:
            referee.step(game_id)
    raise AssertionError("game did not settle")


def until_referee(parties: list[Responder], game: DisputeGame, game_id: int) -> None:
    for _ in range(400):
        if game.state(game_id).phase == GamePhase.REFEREE:
            return
        for p in parties:
            p.step()
    raise AssertionError("game never reached the referee")


@pytest.mark.parametrize("liar", ["defender", "challenger"])
def test_verde_traces_honest_side_wins_and_is_paid_to_the_wei(
    runs, liar, roles, anvil, deployed, market_as, stake_as, game_as, time_travel
):
    honest, faulty = runs
    d_run, c_run = (faulty, honest) if liar == "defender" else (honest, faulty)
    n_ops = honest.trace.n_ops
    job_id = open_dispute(market_as, stake_as, roles, anvil, d_run.trace_root, c_run.trace_root, n_ops,
                          d_run.final_model_hash)
    d_game, c_game = game_as(roles.provider), game_as(roles.challenger)
    game_id = d_game.game_of_job(job_id)
    defender = Responder(d_game, game_id, TraceSource(d_run.trace))
    challenger = Responder(c_game, game_id, TraceSource(c_run.trace))
    # The referee takes op inputs from either party: at the first divergence both hand over the same agreed inputs.
    oracle = VerdeOracle(SPEC, [faulty.trace.op_inputs, honest.trace.op_inputs])
    referee = Referee(game_as(roles.deployer), oracle)

    until_referee([defender, challenger], d_game, game_id)
    st = d_game.state(game_id)
    assert (st.level, st.index, st.hi) == (2, FAULT_STEP, FAULT_OP), "bisection pinned the injected step and op"
    assert referee.step(game_id)
    st = d_game.state(game_id)
    assert st.phase == GamePhase.SETTLED

    stake, market = stake_as(roles.provider), market_as(roles.provider)
    p = deployed.params
    assert anvil.rpc("eth_getBalance", [deployed.address("DisputeGame"), "latest"]) == "0x0"
    if liar == "defender":
        assert stake.locked_stake_of(roles.provider.address) == 0
        assert st.outcome == GameOutcome.CHALLENGER_WINS
        reward = COLLATERAL * p["challenger_reward_bps"] // 10_000
        assert stake.credit_of(roles.challenger.address) == reward
        assert stake.credit_of(roles.treasury.address) == COLLATERAL - reward
        assert stake.free_stake_of(roles.provider.address) == STAKE - COLLATERAL
        assert market.credit_of(roles.client.address) == PRICE
        assert market.credit_of(roles.challenger.address) == p["challenger_bond_wei"]
        assert market.status(job_id) == JobStatus.FAILED
        # The reward really leaves the contract: the challenger's balance grows by it minus gas.
        before = int(anvil.rpc("eth_getBalance", [roles.challenger.address, "latest"]), 16)  # type: ignore[arg-type]
        r = stake_as(roles.challenger).withdraw_credit()
        after = int(anvil.rpc("eth_getBalance", [roles.challenger.address, "latest"]), 16)  # type: ignore[arg-type]
        assert after - before == reward - r.fee_wei
    else:
        assert st.outcome == GameOutcome.DEFENDER_WINS
        bond = p["challenger_bond_wei"]
        cut = bond * p["dispute_cut_bps"] // 10_000
        fee = PRICE * p["protocol_fee_bps"] // 10_000
        # A won game pays the bond at once but not the result: that waits for the window (other challengers).
        assert market.status(job_id) == JobStatus.SUBMITTED
        assert stake.credit_of(roles.provider.address) == bond - cut
        time_travel(p["challenge_window_s"] + 1)
        market_as(roles.stranger).finalize(job_id)
        assert stake.free_stake_of(roles.provider.address) == STAKE
        assert stake.credit_of(roles.challenger.address) == 0
        # The payout may be credited by either contract (JobMarket may route it through StakeManager.release).
        paid = market.credit_of(roles.provider.address) + stake.credit_of(roles.provider.address)
        assert paid == PRICE - fee + bond - cut
        assert market.credit_of(roles.challenger.address) == 0
        assert market.status(job_id) == JobStatus.FINALIZED


@pytest.mark.parametrize("reported", ["honest", "random"])
def test_same_root_challenge_is_decided_by_the_first_round_binding(
    runs, reported, roles, anvil, deployed, market_as, stake_as, game_as, time_travel
):
    """PROTOCOL §7: equal roots play an ordinary first round; the defender's reveal must bind the reported final
    hash to its L[S] (revealFirst), so only a hash its final state holds can win."""
    honest, _ = runs
    final = honest.final_model_hash if reported == "honest" else b"\x5a" * 32
    job_id = open_dispute(market_as, stake_as, roles, anvil, honest.trace_root, honest.trace_root,
                          honest.trace.n_ops, final)
    d_game, c_game = game_as(roles.provider), game_as(roles.challenger)
    game_id = d_game.game_of_job(job_id)
    st = d_game.state(game_id)
    assert st.phase == GamePhase.BISECT and st.first_round and st.final_model_hash == final
    defender = Responder(d_game, game_id, TraceSource(honest.trace))
    challenger = Responder(c_game, game_id, TraceSource(honest.trace))
    assert challenger.step() == Action.MOVED  # the challenger reveals its (equal) ends
    p = deployed.params
    market, stake = market_as(roles.provider), stake_as(roles.provider)
    if reported == "honest":
        assert defender.step() == Action.MOVED  # revealFirst(…, slotsHash): L[S] binds the reported hash
        st = d_game.state(game_id)
        assert st.outcome == GameOutcome.DEFENDER_WINS and st.settled
        bond = p["challenger_bond_wei"]
        assert stake.credit_of(roles.provider.address) == bond - bond * p["dispute_cut_bps"] // 10_000
        assert market.status(job_id) == JobStatus.SUBMITTED  # paid only after the window
        time_travel(p["challenge_window_s"] + 1)
        market.finalize(job_id)
        assert market.status(job_id) == JobStatus.FINALIZED
    else:
        assert defender.step() == Action.WAITING  # no slots hash binds a made-up model hash
        assert defender.moves() == 0
        time_travel(p["move_timeout_s"] + 1)
        assert challenger.step() == Action.TIMED_OUT
        st = c_game.state(game_id)
        assert st.outcome == GameOutcome.CHALLENGER_WINS
        reward = COLLATERAL * p["challenger_reward_bps"] // 10_000
        assert stake_as(roles.challenger).credit_of(roles.challenger.address) == reward
        assert stake.free_stake_of(roles.provider.address) == STAKE - COLLATERAL
        assert market.status(job_id) == JobStatus.FAILED


def test_silent_defender_loses_by_timeout(runs, roles, anvil, deployed, market_as, stake_as, game_as, time_travel):
    honest, faulty = runs
    job_id = open_dispute(market_as, stake_as, roles, anvil, faulty.trace_root, honest.trace_root,
                          honest.trace.n_ops, faulty.final_model_hash)
    c_game = game_as(roles.challenger)
    game_id = c_game.game_of_job(job_id)
    challenger = Responder(c_game, game_id, TraceSource(honest.trace))
    assert challenger.step() == Action.MOVED
    assert challenger.step() == Action.WAITING
    time_travel(deployed.params["move_timeout_s"] + 1)
    assert challenger.step() == Action.TIMED_OUT
    st = c_game.state(game_id)
    assert st.outcome == GameOutcome.CHALLENGER_WINS
    reward = COLLATERAL * deployed.params["challenger_reward_bps"] // 10_000
    assert stake_as(roles.challenger).credit_of(roles.challenger.address) == reward


def test_silent_referee_voids_and_reopens_the_job(
    runs, roles, anvil, deployed, market_as, stake_as, game_as, time_travel
):
    honest, faulty = runs
    job_id = open_dispute(market_as, stake_as, roles, anvil, faulty.trace_root, honest.trace_root,
                          honest.trace.n_ops, faulty.final_model_hash)
    d_game, c_game = game_as(roles.provider), game_as(roles.challenger)
    game_id = d_game.game_of_job(job_id)
    parties = [Responder(d_game, game_id, TraceSource(faulty.trace)),
               Responder(c_game, game_id, TraceSource(honest.trace))]
    until_referee(parties, d_game, game_id)
    time_travel(deployed.params["referee_timeout_s"] + 1)
    assert parties[1].step() == Action.TIMED_OUT
    assert d_game.state(game_id).outcome == GameOutcome.VOID
    stake = stake_as(roles.provider)
    assert (stake.free_stake_of(roles.provider.address), stake.locked_stake_of(roles.provider.address)) == (STAKE, 0)
    assert market_as(roles.client).status(job_id) == JobStatus.OPEN
    assert market_as(roles.client).credit_of(roles.challenger.address) == deployed.params["challenger_bond_wei"]


class _LiesAboutInitialState:
    """A verde trace whose committed L[0] is wrong (every other leaf honest)."""

    def __init__(self, source: TraceSource) -> None:
        self.source = source

    def leaves(self, level: int, index: int) -> list[bytes]:
        out = self.source.leaves(level, index)
        if level == 0:
            out[0] = b"\x01" * 32
        return out

    def output_hash(self, step: int, op: int) -> bytes:
        return self.source.output_hash(step, op)


def test_initial_state_dispute_is_ruled_from_the_spec(runs, roles, anvil, deployed, market_as, stake_as, game_as):
    honest, _ = runs
    liar = _LiesAboutInitialState(TraceSource(honest.trace))
    d_game, c_game = game_as(roles.provider), game_as(roles.challenger)
    challenger_trees_root = Responder(c_game, 0, liar).trees.root()
    job_id = open_dispute(market_as, stake_as, roles, anvil, honest.trace_root, challenger_trees_root,
                          honest.trace.n_ops, honest.final_model_hash)
    game_id = d_game.game_of_job(job_id)
    parties = [Responder(d_game, game_id, TraceSource(honest.trace)), Responder(c_game, game_id, liar)]
    referee = Referee(game_as(roles.deployer), VerdeOracle(SPEC, []))
    until_referee(parties, d_game, game_id)
    st = d_game.state(game_id)
    assert st.level == 0 and st.claim_challenger == b"\x01" * 32
    assert referee.step(game_id)
    assert d_game.state(game_id).outcome == GameOutcome.DEFENDER_WINS

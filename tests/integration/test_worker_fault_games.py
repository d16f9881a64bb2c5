"""Each faulty provider mode (and the false-challenging verifier) played to the end on anvil through the real
contracts, with the worker's fault machinery and the verifier's game players: the liar always loses.

The players are the same `arena.player.GamePlayer`s the worker's defender thread and the verifier process
run; here they are ticked in-process so each game is deterministic and fast.
"""

from __future__ import annotations

import time

import pytest

from arena.player import GamePlayer
from chain.dispute_game import DisputeGame, GameOutcome, GamePhase
from chain.job_market import JobStatus
from verde.runner import run_spec
from verde.spec import parse_spec
from verifier.faults import parse_verifier_fault
from verifier.referee import Referee, VerdeOracle
from worker.faults import parse_worker_fault

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("chain_snapshot")]

ETHER = 10**18
SPEC = {
    "version": 1,
    "model": {"kind": "mlp", "layers": [64, 16, 10], "activation": "relu"},
    "dataset": {"id": "builtin:digits", "batch_size": 16, "shuffle_seed": 5},
    "loss": "cross_entropy",
    "optimizer": {"kind": "sgd", "lr": 0.1},
    "steps": 20,
    "seed": 9,
    "checkpoint_every": 5,
}
PRICE, COLLATERAL, STAKE = ETHER, ETHER // 2, 2 * ETHER


@pytest.fixture(scope="module")
def honest():
    return run_spec(SPEC)


def faulty_run(mode: str, honest_run):
    """The trace a provider running with --fault `mode` commits to and defends, and the final hash it reports."""
    fault = parse_worker_fault(mode)
    assert fault is not None
    spec = parse_spec(SPEC)
    if fault.mode == "wrong-final":
        run = run_spec(SPEC)  # an honest computation and trace, reported with a random final model hash
        return run.trace, fault.fake_final_hash(b"\x07" * 32)
    run = run_spec(SPEC, fault=fault.verde_fault(spec))
    return run.trace, run.final_model_hash


def open_game(market_as, stake_as, roles, anvil, defender_root: bytes, challenger_root: bytes, n_ops: int,
              final_model_hash: bytes) -> int:
    """The defender's first reveal must bind `final_model_hash` to its L[S] (PROTOCOL §7)."""
    stake_as(roles.provider).stake(STAKE)
    posted = market_as(roles.client).post_job(
        spec_hash=b"\x22" * 32, num_steps=SPEC["steps"], checkpoint_every=SPEC["checkpoint_every"],
        ops_per_step=n_ops, collateral=COLLATERAL, deadline=anvil.timestamp() + 3600, price=PRICE,
    )
    cid = posted.job_id
    market_as(roles.matcher).assign(cid, roles.provider.address)
    provider = market_as(roles.provider)
    provider.accept(cid)
    provider.submit_result(cid, defender_root, final_model_hash)
    r = market_as(roles.challenger).challenge(cid, challenger_root)
    return int(r.event("JobChallenged").args["gameId"])


def play(players: list[GamePlayer], referee: Referee, game_id: int, anvil=None, silent_after: float | None = None):
    """Ticks every player (and the referee) until the game settles; returns the outcome and the wall time."""
    t0 = time.perf_counter()
    for i in range(600):
        for p in players:
            p.tick()
        referee.step(game_id)
        st = players[0].game.state(game_id)
        if st.settled:
            return st.outcome, time.perf_counter() - t0
        if anvil is not None and i == 3:
            anvil.increase_time(players[0].game.config().clock + 1)  # the silent party's whole-game clock runs out
    raise AssertionError("game did not settle")


@pytest.mark.parametrize("mode", ["perturb-step=7", "lazy=12", "wrong-final", "silent=3"])
def test_faulty_provider_loses(mode, honest, market_as, stake_as, roles, anvil, deployed):
    liar, reported = faulty_run(mode, honest)
    fault = parse_worker_fault(mode)
    wrong_final = fault.mode == "wrong-final"
    # wrong-final commits the honest trace (same root as the verifier's) with a model hash it cannot back.
    assert (liar.trace_root == honest.trace_root) == wrong_final
    assert reported != honest.final_model_hash
    n_ops = honest.trace.n_ops
    gid = open_game(market_as, stake_as, roles, anvil, liar.trace_root, honest.trace_root, n_ops, reported)
    game_as = lambda acct: DisputeGame.connect(deployed, anvil.rpc_url, acct.private_key)
    opened = game_as(roles.client).state(gid)
    assert opened.phase == GamePhase.BISECT and opened.first_round  # equal roots too: the first round binds L[S]
    challenger = GamePlayer(game_as(roles.challenger), gid, honest.trace, label="challenger")
    players = [challenger]
    if fault.answers_disputes:
        players.insert(0, GamePlayer(game_as(roles.provider), gid, liar, label="defender"))
    # The referee takes the liar's hand-over first: checked against the agreed hashes, it is still genuine input.
    oracle = VerdeOracle(SPEC, [lambda s, j: liar.op_inputs(s, j), lambda s, j: honest.trace.op_inputs(s, j)])
    referee = Referee(game_as(roles.deployer), oracle)
    before = market_as(roles.client).credit_of(roles.client.address)
    # Silent and wrong-final liars only lose once their clock has run out.
    outcome, _ = play(players, referee, gid, anvil if wrong_final or not fault.answers_disputes else None)
    assert outcome == GameOutcome.CHALLENGER_WINS
    if wrong_final:
        assert players[0].responder.moves() == 0  # it never found a proof to send
        assert game_as(roles.client).state(gid).level == 0  # settled without any bisection
    market = market_as(roles.client)
    cid = game_as(roles.client).state(gid).job_id
    assert market.status(cid) == JobStatus.FAILED
    assert market.credit_of(roles.client.address) - before == PRICE  # the client is refunded


def test_false_challenge_loses(honest, market_as, stake_as, roles, anvil, deployed):
    vf = parse_verifier_fault("false-challenge")
    spec = parse_spec(SPEC)
    made_up = run_spec(SPEC, fault=vf.verde_fault(spec)).trace
    gid = open_game(market_as, stake_as, roles, anvil, honest.trace_root, made_up.trace_root, honest.trace.n_ops,
                    honest.final_model_hash)
    game_as = lambda acct: DisputeGame.connect(deployed, anvil.rpc_url, acct.private_key)
    players = [GamePlayer(game_as(roles.provider), gid, honest.trace, label="defender"),
               GamePlayer(game_as(roles.challenger), gid, made_up, label="challenger")]
    referee = Referee(game_as(roles.deployer), VerdeOracle(SPEC, [lambda s, j: made_up.op_inputs(s, j)]))
    outcome, _ = play(players, referee, gid)
    assert outcome == GameOutcome.DEFENDER_WINS
    cid = game_as(roles.client).state(gid).job_id
    # A won game pays the lost bond at once; the result itself is paid once the challenge window has passed.
    assert market_as(roles.client).status(cid) == JobStatus.SUBMITTED
    anvil.increase_time(deployed.params["challenge_window_s"] + 1)
    market_as(roles.client).finalize(cid)
    assert market_as(roles.client).status(cid) == JobStatus.FINALIZED

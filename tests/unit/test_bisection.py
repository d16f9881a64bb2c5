"""The bisection solver against an off-chain replay of Game.sol's rules: the solver pair pins the injected fault."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from verde.bisection import (
    OPS,
    SEGMENTS,
    Descend,
    GameView,
    Phase,
    ProveFinal,
    Reveal,
    RevealOutput,
    Role,
    Shape,
    SyntheticTrace,
    TraceSource,
    TreeCache,
    multiproof,
    narrow,
    next_move,
    plan,
    positions,
    split_points,
    verify_multiproof,
)
from verde.merkle import MerkleTree, depth_for, keccak256, verify


def play(shape: Shape, k: int, defender: SyntheticTrace, challenger: SyntheticTrace):
    """Replays a whole game with Game.sol's rules; every proof checked. Returns (result, moves per party)."""
    trees = {Role.DEFENDER: TreeCache(defender), Role.CHALLENGER: TreeCache(challenger)}
    roots = {r: trees[r].root() for r in Role}
    level, index, lo, hi = SEGMENTS, 0, 0, shape.segments
    ends_known = False
    agreed = b""
    his = {Role.DEFENDER: b"", Role.CHALLENGER: b""}
    moves = {Role.DEFENDER: 0, Role.CHALLENGER: 0}
    phase = Phase.BISECT
    while True:
        n = shape.level_length(level, index)
        view = GameView(phase, level, lo, hi, index, ends_known, 0, shape, k)
        if phase == Phase.BISECT:
            revealed = {}
            for r in Role:
                mv = next_move(view, r, trees[r])
                assert isinstance(mv, Reveal)
                moves[r] += 1
                pos = positions(lo, hi, k, ends_known)
                assert len(mv.elements) == len(pos) and len(mv.proofs) <= depth_for(n) * len(pos)
                assert verify_multiproof(roots[r], n, pos, mv.elements, mv.proofs)
                revealed[r] = mv.elements
            res = narrow(lo, hi, k, ends_known, revealed[Role.DEFENDER], revealed[Role.CHALLENGER],
                         agreed, his[Role.DEFENDER], his[Role.CHALLENGER])
            if res.initial_state_disputed:
                return ("initial", res.hi_defender, res.hi_challenger), moves
            if res.same_final_state:
                return ("same-final",), moves
            ends_known = True
            lo, hi, agreed = res.lo, res.hi, res.agreed
            his = {Role.DEFENDER: res.hi_defender, Role.CHALLENGER: res.hi_challenger}
            assert his[Role.DEFENDER] != his[Role.CHALLENGER]
            if hi == lo + 1:
                phase = Phase.REVEAL if level == OPS else Phase.DESCEND
        elif phase == Phase.DESCEND:
            f_level, f_index = shape.finer(level, lo, index)
            fn = shape.level_length(f_level, f_index)
            for r in Role:
                mv = next_move(view, r, trees[r])
                assert isinstance(mv, Descend)
                moves[r] += 1
                assert verify(mv.finer_root, fn, 0, agreed, mv.first_proof)
                assert verify(mv.finer_root, fn, fn - 1, his[r], mv.last_proof)
                roots[r] = mv.finer_root
            level, index, lo, hi = f_level, f_index, 0, fn - 1
            phase = Phase.BISECT if hi > lo + 1 else (Phase.REVEAL if level == OPS else Phase.DESCEND)
        else:
            claims = {}
            for r in Role:
                mv = next_move(view, r, trees[r])
                assert isinstance(mv, RevealOutput)
                moves[r] += 1
                h = mv.output_hash
                chained = keccak256(agreed + h) if hi < shape.ops_per_step else h
                claims[r] = chained == his[r] and h
            return ("op", index, hi, claims), moves


shapes = st.tuples(st.integers(1, 300), st.integers(1, 40), st.integers(1, 70)).map(
    lambda t: Shape(t[0], min(t[1], t[0]), t[2])
)


@settings(max_examples=150, deadline=None)
@given(shape=shapes, k=st.sampled_from([2, 3, 4, 8, 16]), data=st.data(), liar_defends=st.booleans())
def test_solver_pair_finds_the_injected_step_and_op(shape, k, data, liar_defends):
    step = data.draw(st.integers(1, shape.steps), label="fault step")
    op = data.draw(st.integers(1, shape.ops_per_step), label="fault op")
    honest = SyntheticTrace(shape)
    liar = SyntheticTrace(shape, fault=(step, op))
    d, c = (liar, honest) if liar_defends else (honest, liar)
    result, moves = play(shape, k, d, c)
    assert result[:3] == ("op", step, op)
    claims = result[3]
    # Both parties could reveal (their outputs chain into their committed c[j]); the referee's answer is honest's.
    correct = honest.output_hash(step, op)
    honest_role, liar_role = (Role.CHALLENGER, Role.DEFENDER) if liar_defends else (Role.DEFENDER, Role.CHALLENGER)
    assert claims[honest_role] == correct
    assert claims[liar_role] and claims[liar_role] != correct
    if k == 2:
        bound = math.ceil(math.log2(shape.steps)) + math.ceil(math.log2(shape.ops_per_step)) + 4
        assert moves[Role.DEFENDER] <= bound


def test_initial_state_lie_goes_to_referee_on_L0():
    shape = Shape(20, 4, 5)
    honest, liar = SyntheticTrace(shape), SyntheticTrace(shape, bad_init=True)
    result, moves = play(shape, 4, honest, liar)
    assert result == ("initial", honest.state(0), liar.state(0))
    assert moves == {Role.DEFENDER: 1, Role.CHALLENGER: 1}


def test_split_points_cover_the_interval_without_repeats():
    for lo, hi, k in [(0, 1024, 16), (3, 5, 8), (0, 7, 2), (10, 75, 4)]:
        pts = split_points(lo, hi, k)
        assert pts[0] == lo and pts[-1] == hi
        assert all(a < b for a, b in itertools.pairwise(pts))
        assert len(pts) == min(k, hi - lo) + 1


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 300), data=st.data())
def test_multiproof_roundtrip_and_tamper(n, data):
    leaves = [keccak256(i.to_bytes(4, "big")) for i in range(n)]
    tree = MerkleTree(leaves)
    idx = sorted(data.draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=min(n, 17))))
    proof = multiproof(tree, idx)
    vals = [leaves[i] for i in idx]
    assert verify_multiproof(tree.root, n, idx, vals, proof)
    if proof:
        bad = list(proof)
        bad[data.draw(st.integers(0, len(bad) - 1))] = b"\x01" * 32
        assert not verify_multiproof(tree.root, n, idx, vals, bad)
        assert not verify_multiproof(tree.root, n, idx, vals, proof[:-1])
    assert not verify_multiproof(tree.root, n, idx, vals, proof + [b"\x00" * 32])
    wrong = list(vals)
    wrong[0] = b"\x02" * 32
    assert not verify_multiproof(tree.root, n, idx, wrong, proof)


def test_plan_batches_what_follows_from_the_closing_move():
    shape = Shape(64, 8, 16)
    honest, liar = SyntheticTrace(shape), SyntheticTrace(shape, fault=(37, 11))
    d_trees, c_trees = TreeCache(liar), TreeCache(honest)
    view = GameView(Phase.BISECT, SEGMENTS, 0, 8, 0, False, 0, shape, 4)
    # The first mover of a round stops after its reveal.
    opener = plan(view, Role.DEFENDER, d_trees)
    assert len(opener) == 1 and isinstance(opener[0], Reveal)
    # The second mover closes and, knowing the new interval, opens the next round.
    closing = replace(view, moved=int(Role.DEFENDER), other_elements=tuple(opener[0].elements))
    closer = plan(closing, Role.CHALLENGER, c_trees)
    assert [type(m) for m in closer] == [Reveal, Reveal]
    assert closer[1].elements == [honest.leaves(SEGMENTS, 0)[p] for p in positions(4, 6, 4, True)]
    # Closing a level's last round is followed by the descent.
    last = GameView(Phase.BISECT, SEGMENTS, 4, 6, 0, True, int(Role.DEFENDER), shape, 4,
                    other_elements=(liar.leaves(SEGMENTS, 0)[5],))
    assert [type(m) for m in plan(last, Role.CHALLENGER, c_trees)] == [Reveal, Descend]
    # The second descender opens the new level's first round.
    desc = GameView(Phase.DESCEND, SEGMENTS, 4, 5, 0, True, int(Role.DEFENDER), shape, 4)
    moves = plan(desc, Role.CHALLENGER, c_trees)
    assert [type(m) for m in moves] == [Descend, Reveal]
    assert moves[1].elements == [honest.leaves(1, 4)[p] for p in positions(0, 8, 4, True)]


def test_prove_final_is_the_defenders_move_with_its_final_slots_hash():
    from verde.runner import run_spec

    spec = {"version": 1, "model": {"kind": "mlp", "layers": [64, 8, 10], "activation": "relu"},
            "dataset": {"id": "builtin:digits", "batch_size": 8, "shuffle_seed": 1}, "loss": "cross_entropy",
            "optimizer": {"kind": "adam", "lr": 0.01}, "steps": 5, "seed": 3, "checkpoint_every": 2}
    run = run_spec(spec)
    shape = Shape(5, 2, run.trace.n_ops)
    n = shape.segments + 1
    view = GameView(Phase.PROVE_FINAL, SEGMENTS, 0, n - 1, 0, False, 0, shape, 4)
    trees = TreeCache(TraceSource(run.trace))
    [move] = plan(view, Role.DEFENDER, trees)
    assert isinstance(move, ProveFinal) and move.slots_hash == run.final_slots_hash
    leaf = keccak256(run.final_model_hash + move.slots_hash)  # what Game.proveFinal rebuilds
    assert verify(run.trace_root, n, n - 1, leaf, move.proof)
    assert plan(view, Role.CHALLENGER, trees) == []  # the challenger owes nothing in this phase
    assert plan(view, Role.DEFENDER, TreeCache(SyntheticTrace(shape))) == []  # no final state to open

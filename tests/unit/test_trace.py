"""Trace levels by replay (PROTOCOL §2–3): leaves, Merkle proofs, one-op re-execution, referee inputs, faults."""

import copy

import pytest

from verde.checkpoint import dump_state, load_state
from verde.interpreter import Fault, Interpreter, op_chain
from verde.merkle import keccak256, merkle_root, verify
from verde.runner import run_spec
from verde.spec import parse_spec
from verde.tensorhash import state_hash
from verde.trace import (
    OPS,
    SEGMENTS,
    STEPS,
    TraceError,
    checkpoint_steps,
    referee_output_hash,
    verify_op_inputs,
)

SMALL = {
    "version": 1,
    "model": {"kind": "mlp", "layers": [64, 24, 10], "activation": "relu"},
    "dataset": {"id": "builtin:digits", "batch_size": 16, "shuffle_seed": 3},
    "loss": "cross_entropy",
    "optimizer": {"kind": "adam", "lr": 0.01},
    "steps": 11,
    "seed": 42,
    "checkpoint_every": 4,
}


def spec_with(**changes):
    spec = copy.deepcopy(SMALL)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(spec.get(key), dict):
            spec[key].update(value)
        else:
            spec[key] = value
    return parse_spec(spec)


@pytest.fixture(scope="module")
def honest():
    return run_spec(spec_with())


@pytest.fixture(scope="module")
def straight(honest):
    """Every L[s] and every c[s][0..N] computed by one straight run from step 0 with all ops hashed."""
    it = honest.trace.interpreter
    state, leaves, chains = it.initial_state(), [], {}
    leaves.append(state_hash(state))
    for s in range(1, 12):
        out = it.step(state, s, hash_ops=True)
        c = [leaves[-1]]
        for h in out.op_hashes[:-1]:
            c.append(keccak256(c[-1] + h))
        c.append(out.op_hashes[-1])
        chains[s] = c
        state = out.state
        leaves.append(state_hash(state))
    return leaves, chains


def test_checkpoint_steps_end_at_last_step():
    assert checkpoint_steps(spec_with()) == [0, 4, 8, 11]
    assert checkpoint_steps(spec_with(steps=8)) == [0, 4, 8]


def test_trace_levels_have_protocol_sizes_and_boundaries(honest, straight):
    leaves, _ = straight
    tr = honest.trace
    seg = tr.leaves(SEGMENTS)
    assert seg == [leaves[0], leaves[4], leaves[8], leaves[11]]
    assert tr.trace_root == honest.trace_root == merkle_root(seg)
    assert tr.n_segments == 3
    for k, (lo, hi) in enumerate([(0, 4), (4, 8), (8, 11)]):
        steps = tr.leaves(STEPS, k)
        assert steps == leaves[lo:hi + 1]
        assert steps[0] == seg[k] and steps[-1] == seg[k + 1]


def test_op_leaves_replayed_from_checkpoint_match_straight_run(honest, straight):
    leaves, chains = straight
    tr = honest.trace
    for s in (11, 1, 4, 5, 7, 6):  # out of order: the replay cursor must not leak state
        ops = tr.leaves(OPS, s)
        assert len(ops) == tr.n_ops + 1
        assert ops == chains[s]
        assert ops[0] == leaves[s - 1] and ops[-1] == leaves[s]


def test_merkle_proofs_verify_at_every_level(honest):
    tr = honest.trace
    for level, index in [(SEGMENTS, 0), (STEPS, 2), (OPS, 6)]:
        leaves = tr.leaves(level, index)
        root = tr.root(level, index)
        for i, leaf in enumerate(leaves):
            assert verify(root, len(leaves), i, leaf, tr.proof(level, index, i))
        assert not verify(root, len(leaves), 0, leaves[-1], tr.proof(level, index, 0)) or leaves[0] == leaves[-1]


def test_referee_output_hash_recomputes_each_op_alone(honest):
    tr = honest.trace
    s = 6
    c = tr.leaves(OPS, s)
    n = tr.n_ops
    for j in range(1, n + 1):
        given = tr.op_inputs(s, j)
        assert given.chain == c[j - 1]
        h = referee_output_hash(tr.spec, s, j, given.tensors)
        if j < n:
            assert keccak256(c[j - 1] + h) == c[j]
        else:
            assert h == c[n]
        verify_op_inputs(tr.spec, given, c[0], c[j - 1], dataset=tr.interpreter.dataset)


def test_verify_op_inputs_rejects_tampering(honest):
    tr = honest.trace
    s, j = 5, 9  # dw1 = matmul(h1.T, dz1): one earlier output and one more
    c = tr.leaves(OPS, s)
    given = tr.op_inputs(s, j)
    name = given.op.inputs[0]
    bad = dict(given.tensors)
    bad[name] = bad[name].clone()
    bad[name].view(-1)[0] += 1.0
    from dataclasses import replace

    with pytest.raises(TraceError, match=name):
        verify_op_inputs(tr.spec, replace(given, tensors=bad), c[0], c[j - 1], dataset=tr.interpreter.dataset)
    with pytest.raises(TraceError, match="re-chain"):
        verify_op_inputs(tr.spec, given, c[0], c[j - 2], dataset=tr.interpreter.dataset)
    with pytest.raises(TraceError, match="L\\[s-1\\]"):
        verify_op_inputs(tr.spec, given, c[1], c[j - 1], dataset=tr.interpreter.dataset)
    # a batch input is rebuilt from the spec, not trusted
    given1 = tr.op_inputs(s, 1)
    bad = dict(given1.tensors)
    bad["x"] = bad["x"].flip(0)
    with pytest.raises(TraceError, match="input x"):
        verify_op_inputs(tr.spec, replace(given1, tensors=bad), c[0], c[0], dataset=tr.interpreter.dataset)


def test_trace_with_checkpoint_loader_matches_in_memory(honest):
    stored = {}
    result = run_spec(spec_with(), dataset=honest.trace.interpreter.dataset,
                      checkpoint_sink=lambda step, st: stored.__setitem__(step, dump_state(st, step)),
                      checkpoint_loader=lambda step: load_state(stored[step]).state)
    assert sorted(stored) == [0, 4, 8, 11]
    assert result.trace_root == honest.trace_root
    assert result.trace.leaves(STEPS, 1) == honest.trace.leaves(STEPS, 1)
    assert result.trace.leaves(OPS, 9) == honest.trace.leaves(OPS, 9)


def test_trace_rejects_out_of_range_requests(honest):
    tr = honest.trace
    with pytest.raises(TraceError):
        tr.leaves(STEPS, 3)
    with pytest.raises(TraceError):
        tr.leaves(OPS, 0)
    with pytest.raises(TraceError):
        tr.leaves(OPS, 12)
    with pytest.raises(TraceError):
        tr.leaves(3, 0)


def test_perturbing_any_op_changes_every_later_leaf():
    """tanh so that every op output is live (ReLU masks may swallow a nudge); the loss feeds no later op."""
    spec = spec_with(model={"activation": "tanh"})
    honest = Interpreter(spec)
    n, s = honest.n_ops, 6
    state, leaves = honest.initial_state(), []
    for t in range(1, s):
        state = honest.step(state, t).state
    start = state  # the state after step s-1, shared by all runs
    ref_ops = op_chain(state_hash(start), honest.step(start, s, hash_ops=True).op_hashes)
    for t in range(s, 12):
        state = honest.step(state, t).state
        leaves.append(state_hash(state))  # L[s..S]
    loss_op = next(op.index for op in honest.program.ops if op.output == "loss")
    for j in range(1, n + 1):
        faulty = Interpreter(spec, honest.dataset, fault=Fault(step=s, op_index=j))
        out = faulty.step(start, s, hash_ops=True)
        ops = op_chain(state_hash(start), out.op_hashes)
        assert ops[:j] == ref_ops[:j], j
        if j == loss_op:  # observable only: the chain changes, the state does not
            assert all(a != b for a, b in zip(ops[j:n], ref_ops[j:n]))
            assert ops[n] == ref_ops[n]
            continue
        assert all(a != b for a, b in zip(ops[j:], ref_ops[j:])), j
        state, bad_leaves = out.state, [ops[n]]
        for t in range(s + 1, 12):
            state = faulty.step(state, t).state
            bad_leaves.append(state_hash(state))
        assert all(a != b for a, b in zip(bad_leaves, leaves)), j


def test_faulty_trace_replays_its_own_fault(honest):
    bad = run_spec(spec_with(), dataset=honest.trace.interpreter.dataset, fault=Fault(step=6))
    # finer levels of a faulty run stay consistent with its own root
    steps = bad.trace.leaves(STEPS, 1)
    assert steps[-1] == bad.trace.leaves(SEGMENTS)[2]
    ref = honest.trace.leaves(STEPS, 1)  # L[4..8]; the fault is in step 6
    assert steps[:2] == ref[:2] and all(a != b for a, b in zip(steps[2:], ref[2:]))
    assert bad.trace_root != honest.trace_root


def test_wrong_final_fault_changes_only_the_final_hash(honest):
    bad = run_spec(spec_with(), dataset=honest.trace.interpreter.dataset, fault=Fault(step=11, kind="wrong-final"))
    assert bad.trace_root == honest.trace_root
    assert bad.final_model_hash != honest.final_model_hash

"""Optimizer runs computed as one (verde.opruns) give exactly the op-by-op results, faults included."""

import copy

import pytest
import torch

from verde import opruns
from verde.checkpoint import dump_state, load_state
from verde.interpreter import Fault, Interpreter, execute_op
from verde.spec import parse_spec

BASE = {
    "version": 1,
    "model": {"kind": "mlp", "layers": [64, 24, 16, 10], "activation": "relu"},
    "dataset": {"id": "builtin:digits", "batch_size": 16, "shuffle_seed": 3},
    "loss": "cross_entropy",
    "optimizer": {"kind": "adamw", "lr": 0.01, "weight_decay": 0.1},
    "steps": 6,
    "seed": 42,
    "checkpoint_every": 3,
}
OPTIMIZERS = [
    {"kind": "adamw", "lr": 0.01, "weight_decay": 0.1},
    {"kind": "adam", "lr": 0.01, "weight_decay": 0.05},
    {"kind": "sgd", "lr": 0.05, "momentum": 0.9},
    {"kind": "sgd", "lr": 0.05},
]


def _spec(optimizer: dict) -> dict:
    spec = copy.deepcopy(BASE)
    spec["optimizer"] = optimizer
    return spec


def _op_by_op(spec: dict, fault: Fault | None = None) -> Interpreter:
    """An interpreter whose runs are computed op by op (what every step did before verde.opruns)."""
    original = opruns.runs
    opruns.runs = lambda ops: []
    try:
        return Interpreter(spec, fault=fault)
    finally:
        opruns.runs = original


def _bits(state: dict[str, torch.Tensor]) -> dict[str, bytes]:
    return {k: v.contiguous().numpy().tobytes() for k, v in state.items()}


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=lambda o: o["kind"] + str(len(o)))
def test_runs_give_the_op_by_op_states_and_op_hashes(optimizer):
    spec = _spec(optimizer)
    batched, single = Interpreter(spec), _op_by_op(spec)
    found = opruns.runs(batched.program.ops)
    assert found and all(stop - start == len(batched.program.params) for start, stop in found)
    a = b = batched.initial_state()
    for step in range(1, 5):
        oa, ob = batched.step(a, step, hash_ops=True), single.step(b, step, hash_ops=True)
        assert oa.op_hashes == ob.op_hashes
        assert _bits(oa.state) == _bits(ob.state)
        a, b = oa.state, ob.state


def test_the_next_step_reads_a_runs_outputs_without_a_copy():
    interp = Interpreter(_spec(OPTIMIZERS[0]))
    state = interp.step(interp.step(interp.initial_state(), 1).state, 2).state
    params = [state[p] for p in interp.program.params]
    flat = opruns._flat(params)
    assert flat.untyped_storage().data_ptr() == params[0].untyped_storage().data_ptr()  # a view, not a copy
    assert torch.equal(flat, torch.cat([p.reshape(-1) for p in params]))
    scattered = [p.clone() for p in params]
    assert torch.equal(opruns._flat(scattered), flat)  # apart: copied, same values


@pytest.mark.parametrize("kind", ["adam_m", "adam_v", "adam_param"])
def test_a_fault_inside_a_run_is_seen_by_the_later_ops(kind):
    spec = _spec(OPTIMIZERS[0])
    probe = Interpreter(spec)
    ops = [op for op in probe.program.ops if op.kind == kind]
    target = ops[len(ops) // 2].index  # an op in the middle of its run
    fault = Fault(step=2, op_index=target, delta=0.5)
    batched, single = Interpreter(spec, fault=fault), _op_by_op(spec, fault=fault)
    a = b = batched.initial_state()
    for step in range(1, 4):
        oa, ob = batched.step(a, step, hash_ops=True), single.step(b, step, hash_ops=True)
        assert oa.op_hashes == ob.op_hashes
        a, b = oa.state, ob.state
    honest = Interpreter(spec)
    h = honest.initial_state()
    for step in range(1, 4):
        h = honest.step(h, step).state
    assert _bits(h) != _bits(a)  # the fault did change the run


def test_the_referee_recomputes_one_op_of_a_run_alone():
    interp = Interpreter(_spec(OPTIMIZERS[0]))
    out = interp.step(interp.initial_state(), 1, keep=True)
    assert out.env is not None
    for start, stop in opruns.runs(interp.program.ops):
        for op in interp.program.ops[start:stop]:
            alone = execute_op(interp.spec, op.index, {n: out.env[n].clone() for n in op.inputs}, 1)
            assert torch.equal(alone, out.env[op.output])


def test_a_run_whose_shapes_differ_is_computed_op_by_op():
    interp = Interpreter(_spec(OPTIMIZERS[0]))
    (start, stop), *_ = opruns.runs(interp.program.ops)
    run_ops = interp.program.ops[start:stop]
    run = opruns.Run(run_ops, lambda *a, **k: pytest.fail("batched despite mismatched shapes"),
                     lambda op: lambda env, step, op=op: ("single", op.index))
    env = {name: torch.zeros(3) for op in run_ops for name in op.inputs}
    env[run_ops[0].inputs[-1]] = torch.zeros(4)  # the first op's second input no longer matches its first
    outs = [run.call(k)(env, 1) for k in range(len(run_ops))]
    assert outs == [("single", op.index) for op in run_ops]


def test_checkpoints_of_run_outputs_hold_only_their_own_values():
    interp = Interpreter(_spec(OPTIMIZERS[0]))
    state = interp.step(interp.initial_state(), 1).state
    data = dump_state(state, 1)
    alone = dump_state({k: v.clone() for k, v in state.items()}, 1)
    assert len(data) == len(alone)  # no view drags its whole buffer into the file
    loaded = load_state(data)
    assert loaded.hash == load_state(alone).hash and _bits(loaded.state) == _bits(state)
    for t in loaded.state.values():  # each tensor in a storage of its own, not a view into a shared buffer
        assert t.untyped_storage().nbytes() == t.numel() * t.element_size()


def test_runs_split_where_an_op_reads_an_earlier_output_of_its_run():
    interp = Interpreter(parse_spec(_spec(OPTIMIZERS[0])))
    ops = list(interp.program.ops)
    (start, _stop), *_ = opruns.runs(ops)
    first = ops[start]
    chained = type(first)(ops[start + 1].index, first.kind, (first.output, ops[start + 1].inputs[1]),
                          ops[start + 1].output, first.attrs)
    assert opruns.runs([first, chained]) == []
    assert opruns.runs([first, ops[start + 1]]) == [(0, 2)]

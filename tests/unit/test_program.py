"""Training programs: the fixed op list per step that a spec compiles to."""

import copy

import pytest

from verde import repops
from verde.program import BATCH_NAMES, STATE_KIND, build_program
from verde.spec import parse_spec

BASE = {
    "version": 1,
    "model": {"kind": "mlp", "layers": [64, 128, 10], "activation": "relu"},
    "dataset": {"id": "builtin:digits", "batch_size": 32, "shuffle_seed": 7},
    "loss": "cross_entropy",
    "optimizer": {"kind": "adam", "lr": 0.001},
    "steps": 1000,
    "seed": 1234,
    "checkpoint_every": 100,
}


def program(**changes):
    spec = copy.deepcopy(BASE)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(spec.get(key), dict):
            spec[key].update(value)
        else:
            spec[key] = value
    return build_program(parse_spec(spec))


VARIANTS = [
    {},
    {"model": {"layers": [64, 32, 32, 32, 10], "activation": "gelu"}},
    {"model": {"activation": "tanh"}, "optimizer": {"kind": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4}},
    {"optimizer": {"kind": "sgd", "lr": 0.1}},
    {"optimizer": {"kind": "adam", "lr": 0.001, "weight_decay": 0.01}},
    {"optimizer": {"kind": "adamw", "lr": 0.001, "weight_decay": 0.01}},
    {"loss": "mse", "model": {"layers": [8, 16, 3]}, "dataset": {"id": "builtin:synthetic-regression"}},
]


def test_build_program_reference_has_27_ops_ending_in_state():
    p = program()
    assert p.n_ops == 27
    assert [op.kind for op in p.ops[:8]] == [
        "matmul", "bias_add", "relu", "matmul", "bias_add", "softmax", "cross_entropy", "cross_entropy_backward",
    ]
    assert p.ops[-1].kind == STATE_KIND
    assert p.state_names == ("w0", "b0", "w1", "b1", "m.w0", "m.b0", "m.w1", "m.b1",
                             "v.w0", "v.b0", "v.w1", "v.b1")
    assert p.ops[-1].inputs == tuple(f"new.{n}" for n in p.state_names)
    assert [op.index for op in p.ops] == list(range(1, 28))


@pytest.mark.parametrize("changes", VARIANTS)
def test_build_program_every_input_is_defined_before_use(changes):
    p = program(**changes)
    defined = set(p.state_names) | set(BATCH_NAMES)
    outputs = [op.output for op in p.ops]
    assert len(set(outputs)) == len(outputs)
    for op in p.ops:
        for name in op.inputs:
            assert name in defined, (op, name)
        assert op.kind == STATE_KIND or hasattr(repops, op.kind), op.kind
        defined.add(op.output)
    # the state op takes a new value for every state tensor, one per optimizer output, updates last
    last = p.ops[-1]
    assert len(last.inputs) == len(p.state_names)
    updates = [op for op in p.ops if op.output.startswith("new.")]
    assert len(updates) == len(p.state_names) and updates == list(p.ops[-1 - len(updates):-1])


def test_build_program_slots_follow_optimizer():
    assert program(optimizer={"kind": "sgd", "lr": 0.1}).slots == ()
    assert program(optimizer={"kind": "sgd", "lr": 0.1, "momentum": 0.5}).slots == ("buf.w0", "buf.b0", "buf.w1", "buf.b1")
    assert len(program().slots) == 8


def test_build_program_ops_per_step_by_shape():
    # forward 3 per hidden layer + 2 for the last, loss 3, backward 4 per layer but 2 for the first,
    # Adam 3 per parameter tensor, 1 state op
    deep = program(model={"layers": [64, 32, 32, 32, 10], "activation": "gelu"})
    assert deep.n_ops == (3 * 3 + 2) + 3 + (4 * 3 + 2) + 3 * 8 + 1
    assert program(optimizer={"kind": "sgd", "lr": 0.1}).n_ops == 5 + 3 + 6 + 4 + 1
    assert program(optimizer={"kind": "adam", "lr": 0.001, "weight_decay": 0.1}).n_ops == 27 + 8


def test_build_program_tanh_backward_uses_activation_output():
    p = program(model={"activation": "tanh"})
    (bw,) = [op for op in p.ops if op.kind == "tanh_backward"]
    assert bw.inputs == ("dh1", "h1")
    relu = next(op for op in program().ops if op.kind == "relu_backward")
    assert relu.inputs == ("dh1", "z0")


def test_build_program_backward_products_use_transposes():
    ops = {op.output: op for op in program().ops}
    assert ops["dw1"].inputs == ("h1", "dz1") and ops["dw1"].transpose == (0,)
    assert ops["dh1"].inputs == ("dz1", "w1") and ops["dh1"].transpose == (1,)
    assert ops["db0"].kind == "sum" and ops["db0"].attrs == {"dim": 0}
    assert "dh0" not in ops  # no gradient for the inputs

"""The interpreter (whole steps, hashed steps, one op alone, resume), tensor/state hashing and checkpoints."""

import copy
import hashlib
import io
import struct

import pytest
import torch

from verde.checkpoint import CheckpointError, dump_state, load_state
from verde.interpreter import Fault, Interpreter, execute_op, op_chain, output_hash
from verde.merkle import keccak256
from verde.program import STATE_KIND
from verde.runner import run_spec
from verde.spec import parse_spec
from verde.tensorhash import params_hash, slots_hash, state_hash, tensor_hash

SMALL = {
    "version": 1,
    "model": {"kind": "mlp", "layers": [64, 24, 16, 10], "activation": "relu"},
    "dataset": {"id": "builtin:digits", "batch_size": 16, "shuffle_seed": 3},
    "loss": "cross_entropy",
    "optimizer": {"kind": "adam", "lr": 0.01},
    "steps": 12,
    "seed": 42,
    "checkpoint_every": 4,
}


def spec_with(**changes):
    spec = copy.deepcopy(SMALL)
    spec.update(changes)
    return parse_spec(spec)


@pytest.fixture(scope="module")
def interp():
    return Interpreter(spec_with())


# -- tensor hashing (PROTOCOL §1) --------------------------------------------------------------------

def test_tensor_hash_matches_protocol_bytes():
    t = torch.tensor([[1.0, -2.5, 3.0], [0.0, 1e-3, 7.0]], dtype=torch.float32)
    expected = hashlib.sha256(
        b"agora.tensor.v1" + bytes([1, 2]) + struct.pack("<II", 2, 3) + struct.pack("<6f", *t.flatten().tolist())
    ).digest()
    assert tensor_hash(t) == expected
    i = torch.tensor([3, -1], dtype=torch.int64)
    assert tensor_hash(i) == hashlib.sha256(b"agora.tensor.v1" + bytes([3, 1]) + struct.pack("<I", 2)
                                            + struct.pack("<2q", 3, -1)).digest()
    scalar = torch.tensor(2.0)
    assert tensor_hash(scalar) == hashlib.sha256(b"agora.tensor.v1" + bytes([1, 0]) + struct.pack("<f", 2.0)).digest()


def test_tensor_hash_binds_dtype_shape_and_layout_not_memory_order():
    t = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    assert tensor_hash(t.T) == tensor_hash(t.T.contiguous())
    assert tensor_hash(t) != tensor_hash(t.reshape(4, 3))
    assert tensor_hash(t) != tensor_hash(t.to(torch.float64))
    assert tensor_hash(torch.zeros(0, 3)) != tensor_hash(torch.zeros(3, 0))


def test_state_hash_is_model_hash_then_slots_hash():
    a, b = torch.ones(2), torch.zeros(3)
    m, v = torch.full((2,), 0.5), torch.full((3,), 0.25)
    model = keccak256(tensor_hash(a) + tensor_hash(b))
    assert state_hash({"a": a, "b": b}) == keccak256(model + keccak256(b""))  # no slots: keccak256 of ""
    assert state_hash({"a": a, "b": b}) != state_hash({"b": b, "a": a})
    state = {"a": a, "b": b, "m.a": m, "m.b": v}
    slots = keccak256(tensor_hash(m) + tensor_hash(v))
    assert slots_hash(state) == slots and params_hash(state) == model
    assert state_hash(state) == keccak256(model + slots)


def test_final_leaf_binds_final_model_hash():
    result = run_spec(spec_with(steps=4, checkpoint_every=2))
    assert result.trace.segment_leaves()[-1] == keccak256(result.final_model_hash + result.final_slots_hash)
    assert result.trace.final_slots_hash() == result.final_slots_hash


# -- steps and single ops ----------------------------------------------------------------------------

def test_initial_state_is_seeded_and_ordered(interp):
    s0 = interp.initial_state()
    assert tuple(s0) == interp.program.state_names
    assert state_hash(s0) == state_hash(Interpreter(spec_with()).initial_state())
    assert state_hash(s0) != state_hash(Interpreter(spec_with(seed=43)).initial_state())
    assert float(s0["m.w0"].abs().sum()) == 0.0 and float(s0["w0"].abs().sum()) > 0.0


def test_step_hashes_agree_with_unhashed_step(interp):
    s0 = interp.initial_state()
    plain = interp.step(s0, 1)
    hashed = interp.step(s0, 1, hash_ops=True)
    assert len(hashed.op_hashes) == interp.n_ops
    assert hashed.op_hashes[-1] == state_hash(plain.state) == state_hash(hashed.state)
    assert torch.equal(plain.loss, hashed.loss)


def test_execute_op_alone_reproduces_every_output(interp):
    s0 = interp.initial_state()
    s1 = interp.step(s0, 1).state
    out = interp.step(s1, 2, hash_ops=True, keep=True)
    for op in interp.program.ops:
        inputs = {name: out.env[name].clone() for name in op.inputs}
        result = execute_op(interp.spec, op.index, inputs, 2)
        assert output_hash(result) == out.op_hashes[op.index - 1], op
        if op.kind == STATE_KIND:
            assert tuple(result) == interp.program.state_names


def test_execute_op_names_missing_inputs(interp):
    with pytest.raises(KeyError, match="w0"):
        execute_op(interp.spec, 1, {"x": torch.zeros(16, 64)}, 1)


def test_op_chain_follows_protocol():
    prev, h1, h2, h3 = (bytes([i]) * 32 for i in range(4))
    c = op_chain(prev, [h1, h2, h3])
    assert c == [prev, keccak256(prev + h1), keccak256(keccak256(prev + h1) + h2), h3]


def test_run_emits_leaves_at_checkpoints_and_resumes_from_checkpoint_bytes(interp):
    leaves, states = {}, {}

    def on_checkpoint(step, state, leaf):
        leaves[step], states[step] = leaf, dump_state(state, step)

    final, stats = interp.run(interp.initial_state(), 0, 12, on_checkpoint=on_checkpoint)
    assert sorted(leaves) == [0, 4, 8, 12] and stats.steps == 12
    assert leaves[12] == state_hash(final)
    ckpt = load_state(states[4])
    assert ckpt.step == 4 and ckpt.hash == leaves[4]
    resumed, _ = interp.run(ckpt.state, 4, 12)
    assert state_hash(resumed) == leaves[12]
    # stepping one at a time gives the same leaves
    st = interp.initial_state()
    for s in range(1, 9):
        st = interp.step(st, s).state
    assert state_hash(st) == leaves[8]


def test_run_counts_checkpoint_at_non_multiple_last_step():
    it = Interpreter(spec_with(steps=10, checkpoint_every=4))
    seen = []
    it.run(it.initial_state(), 0, 10, on_checkpoint=lambda s, st, leaf: seen.append(s))
    assert seen == [0, 4, 8, 10]


def test_forward_matches_program_logits(interp):
    s0 = interp.initial_state()
    out = interp.step(s0, 1, keep=True)
    assert torch.equal(interp.forward(s0, out.env["x"]), out.env[interp.program.logits_output])


# -- faults ------------------------------------------------------------------------------------------

def test_fault_perturb_changes_that_op_and_the_state():
    honest = Interpreter(spec_with())
    s0 = honest.initial_state()
    ref = honest.step(s0, 1, hash_ops=True)
    j = 9  # a weight gradient
    faulty = Interpreter(spec_with(), honest.dataset, fault=Fault(step=1, op_index=j, delta=1e-3))
    got = faulty.step(s0, 1, hash_ops=True)
    assert got.op_hashes[: j - 1] == ref.op_hashes[: j - 1]
    assert got.op_hashes[j - 1] != ref.op_hashes[j - 1]
    assert got.op_hashes[-1] != ref.op_hashes[-1]
    # other steps are untouched
    assert faulty.step(s0, 2, hash_ops=True).op_hashes == honest.step(s0, 2, hash_ops=True).op_hashes


def test_fault_perturb_default_nudges_the_new_state():
    honest = Interpreter(spec_with())
    s0 = honest.initial_state()
    faulty = Interpreter(spec_with(), honest.dataset, fault=Fault(step=1, delta=1e-9))
    a, b = honest.step(s0, 1, hash_ops=True), faulty.step(s0, 1, hash_ops=True)
    assert a.op_hashes[:-1] == b.op_hashes[:-1] and a.op_hashes[-1] != b.op_hashes[-1]
    diff = (a.state["w0"] != b.state["w0"]).sum()
    assert int(diff) == 1  # one element, even when delta is below its ulp
    assert b.op_hashes[-1] == state_hash(b.state)


def test_fault_lazy_keeps_the_state_from_its_step():
    it = Interpreter(spec_with(), fault=Fault(step=3, kind="lazy"))
    st = it.initial_state()
    for s in (1, 2):
        st = it.step(st, s).state
    after = it.step(st, 3, hash_ops=True)
    assert state_hash(after.state) == state_hash(st) == after.op_hashes[-1]


# -- checkpoints ---------------------------------------------------------------------------------------

def test_load_state_roundtrip_keeps_order_and_hash(interp):
    s0 = interp.initial_state()
    ckpt = load_state(dump_state(s0, 0))
    assert list(ckpt.state) == list(s0) and ckpt.hash == state_hash(s0)


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_load_state_rejects_garbage_and_pickled_code():
    with pytest.raises(CheckpointError):
        load_state(b"not a checkpoint")
    buf = io.BytesIO()
    torch.save({"format": "agora.checkpoint.v1", "step": 0, "names": ["a"], "tensors": {"a": Evil()}}, buf)
    with pytest.raises(CheckpointError, match="not a loadable"):
        load_state(buf.getvalue())
    buf = io.BytesIO()
    torch.save({"format": "agora.checkpoint.v1", "step": 0, "names": ["a", "b"], "tensors": {"a": torch.ones(1)}}, buf)
    with pytest.raises(CheckpointError, match="disagree"):
        load_state(buf.getvalue())


def test_fault_outside_the_program_is_rejected(interp):
    with pytest.raises(ValueError, match="fault step"):
        Interpreter(interp.spec, interp.dataset, fault=Fault(step=13))
    with pytest.raises(ValueError, match="fault op"):
        Interpreter(interp.spec, interp.dataset, fault=Fault(step=1, op_index=interp.n_ops + 1))

"""Graph programs (the checked-in CNN and GPT): one op per node plus the optimizer, gradients like autograd's, one
trace root whatever the thread count or CPU kernel ISA, every node reproducible alone (the referee's job), and a
perturbed node found where it was perturbed."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from verde.graph import store
from verde.graph.program import parameter_name
from verde.interpreter import Fault, Interpreter, execute_op, output_hash
from verde.runner import run_spec
from verde.spec import parse_spec
from verde.trace import referee_output_hash, verify_op_inputs

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def _spec(name: str, steps: int, every: int) -> dict:
    store.add_directory(EXAMPLES / name)
    spec = json.loads((EXAMPLES / name / "spec.json").read_text())
    return {**spec, "steps": steps, "checkpoint_every": every}


def _data(spec: dict) -> bytes | None:
    ds = spec["dataset"]["id"]
    return store.get(ds) if ds.startswith("sha256:") else None


def _interp(spec: dict, **kw) -> Interpreter:
    return Interpreter(spec, data=_data(spec), **kw)


def _module(name: str):
    loaded = importlib.util.spec_from_file_location(f"example_{name.replace('-', '_')}", EXAMPLES / name / "model.py")
    mod = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(mod)
    return mod


CNN = _spec("digits-cnn", 4, 2)
GPT = _spec("char-gpt", 2, 1)


@pytest.fixture(scope="module")
def cnn_run():
    """One honest run of the 4-step CNN spec, shared by the tests that replay its trace."""
    return run_spec(CNN, data=_data(CNN))


def test_program_is_the_graph_then_the_optimizer():
    interp = _interp(CNN)
    program, graph = interp.program, interp.program.graph
    params = len(graph.parameters)
    assert program.n_ops == graph.n_nodes + 3 * params + 1  # Adam: m, v, param per parameter; then state
    for node, op in zip(graph.nodes, program.ops):
        assert (op.index, op.kind, op.output) == (node.index, node.op, node.name)
    assert program.params == tuple(p.replace(".", "/") for p in graph.parameters)
    assert [parameter_name(p) for p in program.params] == list(graph.parameters)
    assert program.ops[-1].kind == "state"


@pytest.mark.parametrize("name", ["digits-cnn", "char-gpt"])
def test_first_step_matches_autograd(name: str):
    """Loss and every gradient of step 1 agree with plain PyTorch on the same weights and batch."""
    spec = CNN if name == "digits-cnn" else GPT
    interp = _interp(spec)
    state = interp.initial_state()
    out = interp.step(state, 1, keep=True)
    mod = _module(name)
    model = mod.build()
    x, y = interp.batch(1)
    logits = model(x)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    loss.backward()
    assert float(out.loss) == pytest.approx(float(loss.detach()), rel=1e-5)
    graph = interp.program.graph
    for pname, p in model.named_parameters():
        mine = out.env[graph.gradients[pname]]
        scale = float(p.grad.abs().max()) + 1e-12
        assert float((mine - p.grad).abs().max()) / scale < 2e-3, pname


def test_initial_state_is_the_clients_weights():
    interp = _interp(CNN)
    model = _module("digits-cnn").build()
    state = interp.initial_state()
    for name, p in model.named_parameters():
        assert torch.equal(state[name.replace(".", "/")], p.detach())
    assert all(float(state[s].abs().max()) == 0 for s in interp.program.slots)


def _leaves(spec: dict, threads: int) -> list[bytes]:
    """Every checkpoint leaf of a normal run (what the trace root is the Merkle root of) with ``threads`` threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        interp = _interp(spec)
        leaves: list[bytes] = []
        interp.run(interp.initial_state(), 0, spec["steps"], on_checkpoint=lambda s, st, leaf: leaves.append(leaf))
        return leaves
    finally:
        torch.set_num_threads(before)


def test_trace_leaves_are_the_same_with_one_and_two_threads():
    for spec in (CNN, GPT):
        one, two = _leaves(spec, 1), _leaves(spec, 2)
        assert len(one) == len(two) == spec["steps"] // spec["checkpoint_every"] + 1
        assert one == two


def test_run_spec_reports_the_held_out_evaluation(cnn_run):
    a = cnn_run
    assert 0 <= a.accuracy <= 1 and a.eval_loss > 0
    assert a.summary()["eval_loss"] == a.eval_loss


@pytest.mark.parametrize("spec", [CNN, GPT], ids=["cnn", "gpt"])
def test_every_node_alone_reproduces_its_hash(spec: dict):
    interp = _interp(spec)
    state = interp.initial_state()
    out = interp.step(state, 1, hash_ops=True, keep=True)
    env = out.env
    ops = interp.program.ops
    if spec is GPT:  # every op kind once (the CNN: every node): the GPT's 568 nodes would take a while
        first = {}
        for op in ops:
            first.setdefault(op.kind, op)
        ops = tuple(first.values())
    for op in ops:
        alone = execute_op(spec, op.index, {n: env[n] for n in op.inputs}, 1)
        assert output_hash(alone) == out.op_hashes[op.index - 1], (op.index, op.kind)


def test_referee_recomputes_a_backward_convolution_from_handed_over_inputs(cnn_run):
    interp = _interp(CNN)
    trace = cnn_run.trace
    j = next(op.index for op in interp.program.ops if op.kind == "aten.convolution_backward.default")
    given = trace.op_inputs(2, j)
    verify_op_inputs(CNN, given, given.prev_leaf, given.chain)
    assert referee_output_hash(CNN, 2, j, given.tensors) == trace.op_output_hashes(2)[j - 1]


def test_a_perturbed_node_is_the_first_difference(cnn_run):
    interp = _interp(CNN)
    j = [op.index for op in interp.program.ops if op.kind == "aten.convolution_backward.default"][-1]
    honest = cnn_run
    faulty = run_spec(CNN, data=_data(CNN), fault=Fault(step=3, op_index=j))
    assert honest.trace_root != faulty.trace_root
    a, b = honest.trace.op_leaves(3), faulty.trace.op_leaves(3)
    first = next(i for i, (u, v) in enumerate(zip(a, b)) if u != v)
    assert first == j  # c[j] is the first differing leaf: node j's output


_ISA_CODE = """
import json, sys
from verde.graph import store
from verde.interpreter import Interpreter
d = sys.argv[1]
store.add_directory(d)
spec = json.load(open(d + "/spec.json"))
ds = spec["dataset"]["id"]
interp = Interpreter(spec, data=store.get(ds) if ds.startswith("sha256:") else None)
leaves = []
interp.run(interp.initial_state(), 0, spec["steps"], on_checkpoint=lambda s, st, leaf: leaves.append(leaf.hex()))
print(json.dumps(leaves))
"""


def test_trace_roots_agree_across_cpu_kernel_isas(tmp_path: Path):
    """Fresh processes (the ISA is chosen at start-up) under the scalar and AVX2 ATen kernels."""
    results = {}
    for name, spec in (("digits-cnn", {**CNN, "steps": 2, "checkpoint_every": 1}), ("char-gpt", GPT)):
        d = tmp_path / name
        d.mkdir()
        for f in (EXAMPLES / name).iterdir():
            if f.suffix in (".json", ".safetensors", ".npz"):
                shutil.copy(f, d / f.name)
        (d / "spec.json").write_text(json.dumps(spec))
        for cap in ("default", "avx2"):
            env = {**os.environ, "ATEN_CPU_CAPABILITY": cap, "OMP_NUM_THREADS": "1"}
            out = subprocess.run([sys.executable, "-c", _ISA_CODE, str(d)], env=env, cwd=ROOT, capture_output=True,
                                 text=True, timeout=300, check=True)
            results[(name, cap)] = out.stdout.strip().splitlines()[-1]
        assert results[(name, "default")] == results[(name, "avx2")], name


def test_graph_spec_without_its_artifacts_is_refused():
    spec = parse_spec(CNN)
    missing = {**CNN, "model": {**CNN["model"], "weights": "sha256:" + "0" * 64}}
    with pytest.raises(ValueError, match="not available here"):
        _interp(missing).initial_state()
    with pytest.raises(ValueError, match="batch_size 16 differs from the graph's batch of 32"):
        _interp({**CNN, "dataset": {**CNN["dataset"], "batch_size": 16}})
    assert spec.model.kind == "graph"


def test_a_getitem_hand_over_carries_its_multi_output_input(cnn_run):
    """getitem reads a tuple (convolution_backward's three gradients): the referee's hand-over format keeps it."""
    from arena.evidence import dump_op_inputs, load_op_inputs

    trace = cnn_run.trace
    j = next(op.index for op in trace.interpreter.program.ops if op.kind == "getitem")
    given = load_op_inputs(dump_op_inputs(trace.op_inputs(2, j)), parse_spec(CNN), 2, j)
    verify_op_inputs(CNN, given, given.prev_leaf, given.chain)
    assert referee_output_hash(CNN, 2, j, given.tensors) == trace.op_output_hashes(2)[j - 1]

"""verde.graph.format: the checked-in CNN graph parses; every hostile variant of it is refused in one line naming
the node, before anything runs (parsing only runs ops on shape-only meta tensors)."""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path

import pytest
import torch

from verde.graph.format import (
    MAX_ACTIVATION_BYTES,
    GraphError,
    allowed_ops,
    dump_graph,
    dump_weights,
    parse_graph,
    parse_weights,
)

CNN = Path(__file__).resolve().parents[2] / "examples" / "digits-cnn"


@pytest.fixture(scope="module")
def doc() -> dict:
    return json.loads((CNN / "graph.json").read_bytes())


def _node(doc: dict, op: str) -> dict:
    return next(n for n in doc["nodes"] if n["op"] == op)


def _refused(doc: dict) -> str:
    with pytest.raises(GraphError) as exc:
        parse_graph(dump_graph(doc))
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_checked_in_cnn_graph_parses_with_its_bounds(doc: dict):
    g = parse_graph((CNN / "graph.json").read_bytes())
    assert list(g.parameters) == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc.weight", "fc.bias"]
    assert g.parameter_count == 8 * 9 + 8 + 16 * 8 * 9 + 16 + 256 * 10 + 10
    assert g.n_nodes == len(doc["nodes"]) and g.batch_size == 32
    assert g.inputs["x"].shape == (32, 1, 8, 8) and g.inputs["y"].dtype == torch.int64
    assert 0 < g.activation_bytes < MAX_ACTIVATION_BYTES
    assert set(g.gradients) == set(g.parameters) and g.loss and g.logits
    assert {n.op for n in g.nodes} <= allowed_ops()


def test_unknown_op_is_refused_naming_the_node(doc: dict):
    bad = copy.deepcopy(doc)
    node = _node(bad, "aten.relu.default")
    node["op"] = "aten.cumsum.default"
    msg = _refused(bad)
    assert f"node {bad['nodes'].index(node) + 1} {node['name']}" in msg and "not allowed" in msg


def test_builtin_or_attribute_path_ops_are_refused(doc: dict):
    for op in ("builtins.exec", "os.system", "aten.mm", "torch.ops.aten.mm.default"):
        bad = copy.deepcopy(doc)
        bad["nodes"][0]["op"] = op
        assert "not allowed" in _refused(bad)


def test_out_of_range_argument_is_refused_naming_the_node(doc: dict):
    bad = copy.deepcopy(doc)
    node = _node(bad, "aten._log_softmax.default")
    node["args"][1] = 7  # dim 7 of a 2-D tensor
    msg = _refused(bad)
    assert node["name"] in msg and "aten._log_softmax.default" in msg and "bad arguments" in msg


def test_non_literal_arguments_are_refused(doc: dict):
    for arg in ({"code": "import os"}, {"ref": "no_such_node"}, "a string", {"dtype": "float64"}):
        bad = copy.deepcopy(doc)
        _node(bad, "aten._log_softmax.default")["args"][1] = arg
        assert "aten._log_softmax.default" in _refused(bad)


def test_forward_reference_is_refused(doc: dict):
    bad = copy.deepcopy(doc)
    bad["nodes"][0]["args"][0] = {"ref": bad["nodes"][5]["name"]}
    assert "no parameter, input or earlier node" in _refused(bad)


def test_shape_lie_is_refused(doc: dict):
    bad = copy.deepcopy(doc)
    node = _node(bad, "aten.convolution.default")
    node["out"]["shape"] = [32, 8, 4, 4]
    msg = _refused(bad)
    assert node["name"] in msg and "declares output float32[32, 8, 4, 4]" in msg


def test_parameter_shape_lie_is_caught_where_it_is_used(doc: dict):
    bad = copy.deepcopy(doc)
    bad["parameters"][0]["shape"] = [8, 2, 3, 3]
    assert "aten.convolution.default" in _refused(bad)


def test_oversized_tensors_are_refused(doc: dict):
    bad = copy.deepcopy(doc)
    bad["parameters"][4]["shape"] = [10, 10**7]  # fc.weight: 10^8 parameters
    assert "parameters, at most" in _refused(bad)
    bad = copy.deepcopy(doc)
    huge = {"name": "huge", "op": "aten.full.default", "args": [[2**20, 2**20], 0.0],
            "kwargs": {"dtype": {"dtype": "float32"}, "device": {"device": "run"}},
            "out": {"shape": [2**20, 2**20], "dtype": "float32"}}
    bad["nodes"].insert(0, huge)
    assert "node 1 huge (aten.full.default): activations exceed" in _refused(bad)


def test_pickle_and_pt2_bytes_are_refused():
    payload = pickle.dumps({"format": "agora.graph"})
    for raw in (payload, b"PK\x03\x04" + b"\0" * 64, b"\x80\x04K\x01."):
        with pytest.raises(GraphError, match="not UTF-8 JSON"):
            parse_graph(raw)


def test_structure_errors_are_one_line(doc: dict):
    cases = [
        {**doc, "version": 99},
        {**doc, "format": "something"},
        {**doc, "extra": 1},
        {**doc, "outputs": {**doc["outputs"], "loss": doc["nodes"][0]["name"]}},
        {**doc, "outputs": {**doc["outputs"], "gradients": {}}},
        {**doc, "inputs": doc["inputs"][::-1]},
    ]
    for bad in cases:
        _refused(bad)
    dup = copy.deepcopy(doc)
    dup["nodes"][1]["name"] = dup["nodes"][0]["name"]
    assert "already taken" in _refused(dup)


def test_weights_are_checked_against_the_graph():
    graph = parse_graph((CNN / "graph.json").read_bytes())
    good = (CNN / "weights.safetensors").read_bytes()
    weights = parse_weights(good, graph)
    assert list(weights) == list(graph.parameters)
    tensors = {k: v.clone() for k, v in weights.items()}
    missing = dict(tensors)
    missing.pop("fc.bias")
    with pytest.raises(GraphError, match="missing fc.bias"):
        parse_weights(dump_weights(missing), graph)
    wrong = {**tensors, "fc.bias": torch.zeros(11)}
    with pytest.raises(GraphError, match="fc.bias is torch.float32 \\[11\\]"):
        parse_weights(dump_weights(wrong), graph)
    nan = {**tensors, "fc.bias": torch.full((10,), float("nan"))}
    with pytest.raises(GraphError, match="not finite"):
        parse_weights(dump_weights(nan), graph)
    with pytest.raises(GraphError, match="not a safetensors file"):
        parse_weights(pickle.dumps(tensors), graph)

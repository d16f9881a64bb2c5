"""The graph-job cheater: `perturb-node=K:NODE` nudges one graph node at one step, by index or by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verde.graph import store
from verde.program import build_program
from verde.spec import parse_spec
from worker.faults import FaultSyntaxError, WorkerFault, parse_worker_fault

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits-cnn"


@pytest.fixture(scope="module")
def spec():
    store.add_directory(EXAMPLE)
    return parse_spec(json.loads((EXAMPLE / "spec.json").read_text()))


def test_parse_round_trips():
    fault = parse_worker_fault("perturb-node=40:convolution_backward")
    assert fault == WorkerFault("perturb-node", 40, "convolution_backward")
    assert parse_worker_fault(str(fault)) == fault
    assert parse_worker_fault("perturb-node=3:12") == WorkerFault("perturb-node", 3, "12")


@pytest.mark.parametrize("text", ["perturb-node=40", "perturb-node=:5", "perturb-node=x:5", "perturb-node=4:a;b"])
def test_bad_perturb_node_is_refused(text):
    with pytest.raises(FaultSyntaxError):
        parse_worker_fault(text)


def test_the_node_is_found_by_name_or_index(spec):
    program = build_program(spec)
    graph = program.graph
    target = next(n for n in graph.nodes if n.op == "aten.convolution_backward.default")
    fault = WorkerFault("perturb-node", 40, target.name).verde_fault(spec)
    assert fault is not None and fault.step == 40 and fault.op_index == target.index
    assert program.op(fault.op_index).kind == "aten.convolution_backward.default"
    assert WorkerFault("perturb-node", 2, "7").verde_fault(spec).op_index == 7
    with pytest.raises(FaultSyntaxError, match="no node named"):
        WorkerFault("perturb-node", 2, "nope").verde_fault(spec)
    with pytest.raises(FaultSyntaxError, match="outside"):
        WorkerFault("perturb-node", 2, str(graph.n_nodes + 1)).verde_fault(spec)

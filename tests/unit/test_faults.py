"""Fault selection (DESIGN §11, test behaviour): parsing of --fault / $AGORA_FAULT and what each mode runs."""

from __future__ import annotations

import pytest

from verde.merkle import keccak256
from verde.runner import run_spec
from verde.spec import parse_spec
from verifier.faults import FaultSyntaxError as VerifierFaultSyntaxError
from verifier.faults import parse_verifier_fault
from worker.faults import FaultSyntaxError, WorkerFault, parse_worker_fault

SPEC = parse_spec({
    "version": 1,
    "model": {"kind": "mlp", "layers": [64, 8, 10]},
    "dataset": {"id": "builtin:digits", "batch_size": 8},
    "loss": "cross_entropy",
    "optimizer": {"kind": "sgd", "lr": 0.1},
    "steps": 12,
    "seed": 1,
    "checkpoint_every": 4,
})


@pytest.mark.parametrize("text", [None, "", "none", "  honest "])
def test_parse_worker_fault_honest(text):
    assert parse_worker_fault(text) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("perturb-step=7", WorkerFault("perturb-step", 7)),
    ("lazy", WorkerFault("lazy")),
    ("LAZY=3", WorkerFault("lazy", 3)),
    ("wrong-final", WorkerFault("wrong-final")),
    ("silent", WorkerFault("silent")),
    ("silent=2", WorkerFault("silent", 2)),
])
def test_parse_worker_fault_modes(text, expected):
    assert parse_worker_fault(text) == expected
    assert parse_worker_fault(str(expected)) == expected  # str() round-trips (the workspace records it)


@pytest.mark.parametrize("text", ["perturb-step", "perturb-step=x", "perturb-step=0", "wrong-final=3", "sloppy",
                                  "lazy=-1"])
def test_parse_worker_fault_rejects(text):
    with pytest.raises(FaultSyntaxError):
        parse_worker_fault(text)


def test_verde_fault_per_mode():
    assert WorkerFault("perturb-step", 7).verde_fault(SPEC).step == 7
    assert WorkerFault("perturb-step", 7).verde_fault(SPEC).kind == "perturb"
    assert WorkerFault("lazy").verde_fault(SPEC).kind == "lazy"
    assert WorkerFault("lazy").verde_fault(SPEC).step == SPEC.steps // 2  # default: half way
    assert WorkerFault("perturb-step", 999).verde_fault(SPEC).step == SPEC.steps  # clamped into the job
    assert WorkerFault("silent").verde_fault(SPEC).kind == "perturb"  # silent cheats, then never answers
    assert WorkerFault("wrong-final").verde_fault(SPEC) is None  # honest computation, fake end
    assert not WorkerFault("silent").answers_disputes
    assert WorkerFault("lazy").answers_disputes


def test_worker_faults_change_the_trace_root():
    honest = run_spec(SPEC)
    for fault in (WorkerFault("perturb-step", 5), WorkerFault("lazy", 6), WorkerFault("silent")):
        assert run_spec(SPEC, fault=fault.verde_fault(SPEC)).trace_root != honest.trace_root, fault


def test_wrong_final_cannot_bind_its_hash_to_the_honest_final_leaf():
    honest = run_spec(SPEC)
    fake = WorkerFault("wrong-final").fake_final_hash(b"s" * 32)
    last = honest.trace.segment_leaves()[-1]
    assert last == keccak256(honest.final_model_hash + honest.final_slots_hash)  # what proveFinal checks
    assert keccak256(fake + honest.final_slots_hash) != last


def test_fake_final_hash_is_fixed_by_its_seed():
    f = WorkerFault("wrong-final")
    assert f.fake_final_hash(b"a" * 32) == f.fake_final_hash(b"a" * 32) != f.fake_final_hash(b"b" * 32)


def test_parse_verifier_fault():
    assert parse_verifier_fault(None) is None
    assert parse_verifier_fault("false-challenge").step is None
    assert parse_verifier_fault("false-challenge=4").verde_fault(SPEC).step == 4
    assert parse_verifier_fault("false-challenge").verde_fault(SPEC).step == SPEC.steps // 2
    with pytest.raises(VerifierFaultSyntaxError):
        parse_verifier_fault("lazy")
    with pytest.raises(VerifierFaultSyntaxError):
        parse_verifier_fault("false-challenge=zero")

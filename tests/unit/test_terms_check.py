"""The worker's pre-accept check (issue 10, hole 7): on-chain terms that do not describe the fetched spec are
refused, each mismatch named; matching terms pass."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chain.job_market import JobTerms
from verde.merkle import keccak256
from verde.program import build_program
from verde.spec import canonical_json, parse_spec
from worker.terms_check import TermsMismatch, check_terms, terms_mismatches

SPEC = parse_spec({
    "version": 1,
    "model": {"kind": "mlp", "layers": [64, 8, 10]},
    "dataset": {"id": "builtin:digits", "batch_size": 8},
    "loss": "cross_entropy",
    "optimizer": {"kind": "sgd", "lr": 0.1},
    "steps": 20,
    "seed": 1,
    "checkpoint_every": 5,
})
RAW = canonical_json(SPEC)
TERMS = JobTerms(client="0x" + "11" * 20, price=10, spec_hash=keccak256(RAW), num_steps=20, checkpoint_every=5,
                 ops_per_step=build_program(SPEC).n_ops, collateral=1, deadline=2**40)


def test_terms_that_describe_the_spec_pass():
    assert terms_mismatches(RAW, SPEC, TERMS) == []
    check_terms(RAW, SPEC, TERMS)


@pytest.mark.parametrize(("change", "named"), [
    ({"num_steps": 21}, "numSteps 21"),
    ({"checkpoint_every": 4}, "checkpointEvery 4"),
    ({"ops_per_step": 3}, "opsPerStep 3"),
    ({"spec_hash": b"\x00" * 32}, "specHash"),
])
def test_each_mismatch_is_refused_and_named(change, named):
    wrong = replace(TERMS, **change)
    with pytest.raises(TermsMismatch, match=named):
        check_terms(RAW, SPEC, wrong)
    assert len(terms_mismatches(RAW, SPEC, wrong)) == 1


def test_every_mismatch_is_listed_at_once():
    wrong = replace(TERMS, num_steps=1, checkpoint_every=1, ops_per_step=1)
    assert len(terms_mismatches(RAW, SPEC, wrong)) == 3

"""Before accepting, a worker checks the job's on-chain terms against the spec it fetched (issue 10, hole 7).

The contracts check every later move against the on-chain numSteps / checkpointEvery / opsPerStep: a job whose
terms disagree with its spec makes the provider's own submitResult or descent revert, and the provider then
forfeits its collateral by the clock. So such a job is refused before accept, never run.
"""

from __future__ import annotations

import logging

from chain.job_market import JobTerms
from client.api import ApiError, CoordinatorClient
from verde.merkle import keccak256
from verde.program import build_program
from verde.spec import JobSpec

log = logging.getLogger("agora.worker")


class TermsMismatch(Exception):
    """The on-chain terms of a job do not describe the spec it names: never accept it."""


def terms_mismatches(spec_bytes: bytes, spec: JobSpec, terms: JobTerms) -> list[str]:
    """Every way the on-chain terms disagree with the spec (empty when they describe it exactly)."""
    out = []
    if keccak256(spec_bytes) != terms.spec_hash:
        out.append("the spec does not hash to the on-chain specHash")
    if terms.num_steps != spec.steps:
        out.append(f"on-chain numSteps {terms.num_steps} != spec steps {spec.steps}")
    if terms.checkpoint_every != spec.checkpoint_every:
        out.append(f"on-chain checkpointEvery {terms.checkpoint_every} != spec checkpoint_every "
                   f"{spec.checkpoint_every}")
    n_ops = build_program(spec).n_ops
    if terms.ops_per_step != n_ops:
        out.append(f"on-chain opsPerStep {terms.ops_per_step} != the spec's {n_ops} ops per step")
    return out


def check_terms(spec_bytes: bytes, spec: JobSpec, terms: JobTerms) -> None:
    """Raises `TermsMismatch` naming every disagreement."""
    wrong = terms_mismatches(spec_bytes, spec, terms)
    if wrong:
        raise TermsMismatch("; ".join(wrong))


def decline_if_mismatched(api: CoordinatorClient, job_id: int, chain_job_id: int, spec_bytes: bytes, spec: JobSpec,
                          terms: JobTerms) -> str | None:
    """The reason the job is refused (logged, and on its timeline as kind "declined"), or None when it checks out."""
    wrong = terms_mismatches(spec_bytes, spec, terms)
    if not wrong:
        return None
    reason = "; ".join(wrong)
    log.warning("job %s (chain %s): refusing before accept: %s", job_id, chain_job_id, reason)
    try:
        api.decline(job_id, reason)
    except ApiError as exc:
        log.warning("job %s: refusal not on the timeline: %s", job_id, exc)
    return reason

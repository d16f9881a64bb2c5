"""From a validated spec and price to the job's on-chain JobTerms (ops per step from verde's program)."""

from __future__ import annotations

import datetime as dt

from eth_utils import to_checksum_address

from chain.job_market import JobTerms
from coordinator.models import Job
from verde.program import build_program
from verde.spec import JobSpec


def ops_per_step(spec: JobSpec) -> int:
    return int(build_program(spec).n_ops)


def terms_of(job: Job) -> JobTerms:
    assert job.deadline_at is not None
    return JobTerms(
        client=to_checksum_address(job.client),
        price=int(job.price_wei),
        spec_hash=bytes.fromhex(job.spec_hash.removeprefix("0x")),
        num_steps=job.num_steps,
        checkpoint_every=job.checkpoint_every,
        ops_per_step=job.ops_per_step,
        collateral=int(job.collateral_wei),
        deadline=int(job.deadline_at.timestamp()),
    )


def deadline_from(now: dt.datetime, deadline_s: int) -> dt.datetime:
    # Whole seconds: the chain stores uint40 seconds and the terms must hash identically later.
    return (now + dt.timedelta(seconds=deadline_s)).replace(microsecond=0)

"""The matcher matches on the memory one step of a job needs against what providers advertise."""

from coordinator.matching import Candidate, OpenJob, match


def provider(address: str, memory: int | None) -> Candidate:
    return Candidate(address, free_stake=10**18, max_params=10**7, devices=frozenset({"cpu"}), repops_version="1",
                     slots=1, max_step_bytes=memory)


def test_a_job_goes_to_a_provider_with_enough_memory():
    job = OpenJob(1, 1000, 10, "1", step_bytes=3 * 2**20)
    plan = match([job], [provider("0xsmall", 2**20), provider("0xbig", 2**30)])
    assert plan.assignments == [(1, "0xbig")]


def test_a_job_above_every_providers_memory_waits_with_the_reason():
    job = OpenJob(1, 1000, 10, "1", step_bytes=3 * 2**20)
    plan = match([job], [provider("0xsmall", 2**20)])
    assert plan.assignments == [] and plan.waiting[1] == (
        "no live provider offers the 3.0 MiB one step of this model needs (largest: 1.0 MiB)")


def test_a_provider_that_advertises_no_limit_takes_any_job():
    plan = match([OpenJob(1, 1000, 10, "1", step_bytes=2**40)], [provider("0xany", None)])
    assert plan.assignments == [(1, "0xany")]

"""The pure matching engine: eligibility, fairness (rotation, FIFO), explanations, and its speed at 10k × 1k."""

from __future__ import annotations

import random

from coordinator.matching import Candidate, OpenJob, match


def cand(
    addr: str,
    stake: int = 10,
    params: int = 1000,
    version: str = "1",
    slots: int = 4,
    last: float = 0.0,
    devices: tuple[str, ...] = ("cpu",),
) -> Candidate:
    return Candidate(addr, stake, params, frozenset(devices), version, slots, last)


def job(i: int, params: int = 100, collateral: int = 1, version: str = "1", **kw: object) -> OpenJob:
    return OpenJob(i, params, collateral, version, **kw)  # type: ignore[arg-type]


def test_only_eligible_providers_get_jobs() -> None:
    providers = [
        cand("0xpoor", stake=0),
        cand("0xsmall", params=10),
        cand("0xold", version="0"),
        cand("0xbusy", slots=0),
        cand("0xgood"),
    ]
    plan = match([job(1)], providers)
    assert plan.assignments == [(1, "0xgood")]
    assert plan.waiting == {}


def test_rotation_spreads_jobs_least_recently_assigned_first() -> None:
    providers = [cand("0xa", last=5.0), cand("0xb", last=1.0), cand("0xc", last=3.0)]
    plan = match([job(i) for i in range(1, 7)], providers, start_seq=10.0)
    assert [p for _, p in plan.assignments] == ["0xb", "0xc", "0xa", "0xb", "0xc", "0xa"]


def test_no_provider_starved_when_capacity_exceeds_demand() -> None:
    providers = [cand(f"0x{i:02d}", slots=10) for i in range(20)]
    plan = match([job(i) for i in range(20)], providers)
    assert sorted(p for _, p in plan.assignments) == sorted(p.address for p in providers)


def test_stake_and_slots_are_spent_within_a_round() -> None:
    plan = match([job(i, collateral=4) for i in range(5)], [cand("0xa", stake=10, slots=10)])
    assert len(plan.assignments) == 2
    assert "busy" in plan.waiting[2]


def test_waiting_reasons_name_the_missing_capability() -> None:
    plan = match(
        [
            job(1, params=10**9),
            job(2, collateral=10**6),
            job(3, version="2"),
            job(4, excluded=frozenset({"0xa"})),
        ],
        [cand("0xa")],
    )
    assert "parameters" in plan.waiting[1]
    assert "free stake" in plan.waiting[2]
    assert "RepOps version 2" in plan.waiting[3]
    assert "expire" in plan.waiting[4]
    assert plan.assignments == []


def test_fifo_order_serves_older_jobs_first() -> None:
    plan = match([job(7), job(3), job(9)], [cand("0xa", slots=2)])
    assert [j for j, _ in plan.assignments] == [7, 3]
    assert list(plan.waiting) == [9]


def test_device_requirement() -> None:
    plan = match([job(1, device="cuda")], [cand("0xcpu"), cand("0xgpu", devices=("cpu", "cuda"))])
    assert plan.assignments == [(1, "0xgpu")]


def test_match_10k_jobs_against_1k_providers_is_fast() -> None:
    rng = random.Random(1)
    providers = [
        cand(
            f"0x{i:040x}",
            stake=rng.randint(1, 40),
            params=rng.choice([10**5, 10**6, 5 * 10**6]),
            slots=rng.randint(1, 8),
            last=rng.random(),
        )
        for i in range(1000)
    ]
    jobs = [
        job(i, params=rng.choice([10**4, 10**5, 10**6, 4 * 10**6]), collateral=rng.randint(1, 4))
        for i in range(10_000)
    ]
    # How fast is the bench's business (`agora bench matching`): on a loaded machine any bound here would flake.
    plan = match(jobs, providers, start_seq=2.0)
    assert len(plan.assignments) + len(plan.waiting) == 10_000
    assert len({j for j, _ in plan.assignments}) == len(plan.assignments)

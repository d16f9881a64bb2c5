"""The pure matching engine: open jobs × live providers → assignments, plus why each unmatched job waits.

Fairness: jobs are served oldest first; providers rotate least-recently-assigned first (each assignment moves
the provider to the back of the rotation), so every eligible provider gets work before any gets a second job.
No I/O, no clock: the service (coordinator/matcher.py) feeds it snapshots.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class OpenJob:
    job_id: int
    num_params: int
    collateral: int
    repops_version: str
    device: str | None = None  # None: any device
    excluded: frozenset[str] = frozenset()  # providers that let this job expire before
    step_bytes: int = 0  # the memory one training step needs (coordinator/graph_jobs.py); 0: unknown


@dataclass(slots=True)
class Candidate:
    address: str
    free_stake: int
    max_params: int
    devices: frozenset[str]
    repops_version: str
    slots: int  # jobs it may still take now (queue room)
    last_assigned: float = float("-inf")  # rotation key: smaller goes first
    max_step_bytes: int | None = None  # the memory it offers one step; None: it advertises no limit


@dataclass
class Plan:
    assignments: list[tuple[int, str]] = field(default_factory=list)
    waiting: dict[int, str] = field(default_factory=dict)


def fits_memory(job: OpenJob, p: Candidate) -> bool:
    """Whether one step of the job fits the memory the provider advertises (no advertised limit: it fits)."""
    return p.max_step_bytes is None or p.max_step_bytes >= job.step_bytes


def _fits(job: OpenJob, p: Candidate) -> bool:
    return (
        p.max_params >= job.num_params
        and fits_memory(job, p)
        and p.free_stake >= job.collateral
        and (job.device is None or job.device in p.devices)
        and p.address not in job.excluded
    )


@dataclass(frozen=True, slots=True)
class _Pool:
    """What one RepOps version's providers offered at the start of a round (for explanations)."""

    members: tuple[Candidate, ...]
    devices: frozenset[str]
    max_params: int
    max_free_stake: int
    max_step_bytes: int | None  # None: some provider advertises no limit


def _pool(group: list[Candidate]) -> _Pool:
    limits = [p.max_step_bytes for p in group]
    return _Pool(
        tuple(group),
        frozenset(d for p in group for d in p.devices),
        max(p.max_params for p in group),
        max(p.free_stake for p in group),
        None if any(m is None for m in limits) else max(m for m in limits if m is not None),
    )


def _why(job: OpenJob, pool: _Pool | None) -> str:
    if pool is None:
        return f"no live provider runs RepOps version {job.repops_version}"
    if job.device is not None and job.device not in pool.devices:
        return f"no live provider offers a {job.device} device"
    if pool.max_params < job.num_params:
        return f"no live provider can hold {job.num_params} parameters (largest: {pool.max_params})"
    if pool.max_step_bytes is not None and pool.max_step_bytes < job.step_bytes:
        return (f"no live provider offers the {job.step_bytes / 2**20:.1f} MiB one step of this model needs "
                f"(largest: {pool.max_step_bytes / 2**20:.1f} MiB)")
    if pool.max_free_stake < job.collateral:
        return f"no live provider has {job.collateral} wei of free stake for the collateral (most: {pool.max_free_stake})"
    if job.excluded and all(
        p.address in job.excluded for p in pool.members if p.max_params >= job.num_params
    ):
        return "every capable provider already let this job expire"
    return "every capable provider is busy (queue full or stake committed); waiting for capacity"


def _tier(num_params: int) -> int:
    # Providers are bucketed by the power of two of their capacity, so a big job never scans small providers.
    return max(num_params, 0).bit_length()


def match(jobs: Iterable[OpenJob], providers: Iterable[Candidate], *, start_seq: float = 0.0) -> Plan:
    """Assign `jobs` (in the given order: oldest first) to `providers`. `start_seq` must exceed every provider's
    `last_assigned` for this round's assignments to rotate behind everyone else (use a timestamp)."""
    plan = Plan()
    jobs = list(jobs)
    groups: dict[str, list[Candidate]] = {}
    for p in providers:
        groups.setdefault(p.repops_version, []).append(p)
    # Snapshot for explanations, before capacity is spent.
    snapshot = {v: _pool(g) for v, g in groups.items()}
    min_collateral: dict[str, int] = {}
    for j in jobs:
        c = min_collateral.get(j.repops_version)
        if c is None or j.collateral < c:
            min_collateral[j.repops_version] = j.collateral
    # version -> tier -> heap of (rotation key, address, provider)
    heaps: dict[str, dict[int, list[tuple[float, str, Candidate]]]] = {}
    for v, g in groups.items():
        floor = min_collateral.get(v, 0)
        tiers: dict[int, list[tuple[float, str, Candidate]]] = {}
        for p in g:
            if p.slots > 0 and p.free_stake >= floor:
                tiers.setdefault(_tier(p.max_params), []).append((p.last_assigned, p.address, p))
        for h in tiers.values():
            heapq.heapify(h)
        heaps[v] = tiers
    # Jobs that found nobody: any job at least as demanding will not either (providers only lose capacity).
    failed: dict[str, list[OpenJob]] = {}
    seq = start_seq
    for job in jobs:
        version = job.repops_version
        tiers = heaps.get(version, {})
        if not tiers:
            plan.waiting[job.job_id] = _why(job, snapshot.get(version))
            continue
        if any(
            f.num_params <= job.num_params
            and f.step_bytes <= job.step_bytes
            and f.collateral <= job.collateral
            and f.device == job.device
            and f.excluded <= job.excluded
            for f in failed.get(version, ())
        ):
            plan.waiting[job.job_id] = _why(job, snapshot.get(version))
            continue
        need = _tier(job.num_params)
        usable = [h for t, h in tiers.items() if t >= need and h]
        skipped: list[tuple[list[tuple[float, str, Candidate]], tuple[float, str, Candidate]]] = []
        chosen: Candidate | None = None
        chosen_heap: list[tuple[float, str, Candidate]] | None = None
        while usable:
            best = min(usable, key=lambda h: h[0]) if len(usable) > 1 else usable[0]
            item = heapq.heappop(best)
            if not best:
                usable.remove(best)
            if _fits(job, item[2]):
                chosen, chosen_heap = item[2], best
                break
            skipped.append((best, item))
        for h, item in skipped:
            heapq.heappush(h, item)
        if chosen is None or chosen_heap is None:
            failed.setdefault(version, []).append(job)
            plan.waiting[job.job_id] = _why(job, snapshot.get(version))
            continue
        plan.assignments.append((job.job_id, chosen.address))
        chosen.free_stake -= job.collateral
        chosen.slots -= 1
        seq += 1e-6
        chosen.last_assigned = seq
        if chosen.slots > 0 and chosen.free_stake >= min_collateral[version]:
            heapq.heappush(chosen_heap, (chosen.last_assigned, chosen.address, chosen))
    return plan

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


@dataclass(slots=True)
class Candidate:
    address: str
    free_stake: int
    max_params: int
    devices: frozenset[str]
    repops_version: str
    slots: int  # jobs it may still take now (queue room)
    last_assigned: float = float("-inf")  # rotation key: smaller goes first


@dataclass
class Plan:
    assignments: list[tuple[int, str]] = field(default_factory=list)
    waiting: dict[int, str] = field(default_factory=dict)


def _fits(job: OpenJob, p: Candidate) -> bool:
    return (
        p.max_params >= job.num_params
        and p.free_stake >= job.collateral
        and (job.device is None or job.device in p.devices)
        and p.address not in job.excluded
    )


def _why(job: OpenJob, group: list[Candidate] | None) -> str:
    if not group:
        return f"no live provider runs RepOps version {job.repops_version}"
    if job.device is not None and not any(job.device in p.devices for p in group):
        return f"no live provider offers a {job.device} device"
    biggest = max(p.max_params for p in group)
    if biggest < job.num_params:
        return f"no live provider can hold {job.num_params} parameters (largest: {biggest})"
    richest = max(p.free_stake for p in group)
    if richest < job.collateral:
        return f"no live provider has {job.collateral} wei of free stake for the collateral (most: {richest})"
    if all(p.address in job.excluded for p in group if p.max_params >= job.num_params):
        return "every capable provider already let this job expire"
    return "every capable provider is busy (queue full or stake committed); waiting for capacity"


def match(jobs: Iterable[OpenJob], providers: Iterable[Candidate], *, start_seq: float = 0.0) -> Plan:
    """Assign `jobs` (in the given order: oldest first) to `providers`. `start_seq` must exceed every provider's
    `last_assigned` for this round's assignments to rotate behind everyone else (use a timestamp)."""
    plan = Plan()
    groups: dict[str, list[Candidate]] = {}
    for p in providers:
        groups.setdefault(p.repops_version, []).append(p)
    # Snapshot for explanations, before capacity is spent.
    snapshot = {v: [Candidate(p.address, p.free_stake, p.max_params, p.devices, p.repops_version, p.slots,
                              p.last_assigned) for p in g] for v, g in groups.items()}
    heaps: dict[str, list[tuple[float, str, Candidate]]] = {}
    for v, g in groups.items():
        h = [(p.last_assigned, p.address, p) for p in g if p.slots > 0 and p.free_stake >= 0]
        heapq.heapify(h)
        heaps[v] = h
    # (num_params, collateral, device, excluded) that found nobody: any job at least as demanding will not either,
    # because providers only lose capacity during a round.
    failed: dict[str, list[OpenJob]] = {}
    seq = start_seq
    for job in jobs:
        heap = heaps.get(job.repops_version)
        if not heap:
            plan.waiting[job.job_id] = _why(job, snapshot.get(job.repops_version))
            continue
        if any(
            f.num_params <= job.num_params and f.collateral <= job.collateral and f.device == job.device
            and f.excluded <= job.excluded
            for f in failed.get(job.repops_version, ())
        ):
            plan.waiting[job.job_id] = _why(job, snapshot.get(job.repops_version))
            continue
        skipped: list[tuple[float, str, Candidate]] = []
        chosen: Candidate | None = None
        while heap:
            item = heapq.heappop(heap)
            if _fits(job, item[2]):
                chosen = item[2]
                break
            skipped.append(item)
        for item in skipped:
            heapq.heappush(heap, item)
        if chosen is None:
            failed.setdefault(job.repops_version, []).append(job)
            plan.waiting[job.job_id] = _why(job, snapshot.get(job.repops_version))
            continue
        plan.assignments.append((job.job_id, chosen.address))
        chosen.free_stake -= job.collateral
        chosen.slots -= 1
        seq += 1e-6
        chosen.last_assigned = seq
        if chosen.slots > 0:
            heapq.heappush(heap, (chosen.last_assigned, chosen.address, chosen))
    return plan

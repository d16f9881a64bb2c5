"""Before accepting, a worker checks that it can run the job at all (issue 11): the data fits the model, the model
fits this worker, the device it asks for is here. Accepting locks collateral, so a job that cannot run is declined
first (logged, and on its timeline as kind "declined"), never accepted and then forfeited by the clock."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from client.api import ApiError
from verde.datasets import DatasetError, load_dataset
from verde.spec import JobSpec

log = logging.getLogger("agora.worker")


def parameter_count(spec: JobSpec) -> int:
    """An MLP's from its widths; a graph job's from its graph (fetched into verde.graph.store beforehand)."""
    if spec.model.kind == "graph":
        from verde.program import build_program

        graph = build_program(spec).graph
        assert graph is not None
        return int(graph.parameter_count)
    return int(spec.model.parameter_count)


def unrunnable(spec: JobSpec, data: bytes | None, *, max_params: int, devices: list[str],
               wanted_device: str | None) -> str | None:
    """Why this worker cannot run `spec` on `data`, or None when it can."""
    n_params = parameter_count(spec)
    if n_params > max_params:
        return f"the model has {n_params} parameters, more than this worker's max_params {max_params}"
    if wanted_device is not None and wanted_device not in devices:
        return f"the client asked for a {wanted_device} device; this worker has {', '.join(devices)}"
    try:
        load_dataset(spec, data)
    except DatasetError as exc:
        return f"the dataset cannot serve the spec: {exc}"
    return None


def decline_if_unrunnable(api: Any, job_id: int, chain_job_id: int, spec: JobSpec,
                          fetch_data: Callable[[JobSpec], bytes | None], *, max_params: int, devices: list[str],
                          wanted_device: str | None) -> str | None:
    """The reason the job is declined before accept (logged and on the timeline), or None when it can run."""
    reason: str | None
    try:
        data = fetch_data(spec)
    except ApiError as exc:
        reason = f"the job's inputs cannot be fetched: {exc.message}"
    else:
        reason = unrunnable(spec, data, max_params=max_params, devices=devices, wanted_device=wanted_device)
    if reason is None:
        return None
    log.warning("job %s (chain %s): declining before accept: %s", job_id, chain_job_id, reason)
    try:
        api.decline(job_id, reason)
    except ApiError as exc:
        log.warning("job %s: decline not on the timeline: %s", job_id, exc)
    return reason


def abandon_unrunnable(market: Any, api: Any, job_id: int, chain_job_id: int, reason: str) -> bool:
    """After accepting, a job that proves impossible to run is given back on-chain (`abandon`, a small forfeit)
    rather than left to the deadline (the whole forfeit); the reason goes onto the timeline. True when sent."""
    log.warning("job %s (chain %s): abandoning after accept: %s", job_id, chain_job_id, reason)
    try:
        market.abandon(chain_job_id, "cannot-run")
    except Exception as exc:  # noqa: BLE001 - not Running any more, or the chain is away: the clock decides
        log.warning("job %s (chain %s): abandon not sent: %s", job_id, chain_job_id, exc)
        return False
    try:
        api.decline(job_id, f"abandoned after accepting: {reason}")
    except ApiError as exc:
        log.warning("job %s: abandon not on the timeline: %s", job_id, exc)
    return True

"""The provider's heartbeat: signed in as the provider, every few seconds, it tells the coordinator it is alive,
what it can run and how busy it is — the coordinator matches only providers with a fresh heartbeat."""

from __future__ import annotations

import logging
import os
import threading
from typing import Self

import torch

from client.api import ApiError
from worker.bootstrap import WorkerContext

log = logging.getLogger("agora.worker")

_busy = 0
_busy_lock = threading.Lock()


class Busy:
    """`with Busy():` around a running job, so heartbeats report this process's queue depth."""

    def __enter__(self) -> Self:
        global _busy
        with _busy_lock:
            _busy += 1
        return self

    def __exit__(self, *exc: object) -> None:
        global _busy
        with _busy_lock:
            _busy -= 1


def queue_depth() -> int:
    with _busy_lock:
        return _busy


def devices(configured: str) -> list[str]:
    out = ["cpu"]
    if configured.startswith("cuda") and torch.cuda.is_available():
        out.append("cuda")
    return out


def step_memory(configured: int | None, device: str) -> int:
    """The memory offered to one training step: as configured, else the GPU's memory on cuda, else half the RAM
    (the rest is the worker's own, its checkpoints and the operating system's)."""
    if configured is not None:
        return configured
    if device.startswith("cuda") and torch.cuda.is_available():
        return int(torch.cuda.get_device_properties(0).total_memory)
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")) // 2


def beat(ctx: WorkerContext) -> dict | None:
    """One heartbeat; None (logged) when the coordinator refused or could not be reached."""
    s = ctx.settings
    try:
        return ctx.api.heartbeat(devices(s.device), s.max_params, queue_depth(), s.repops_version,
                                 max_step_bytes=step_memory(s.max_step_bytes, s.device))
    except ApiError as exc:
        log.warning("heartbeat not accepted: %s", exc)
        return None


def check_stake(ctx: WorkerContext) -> None:
    """Logs the provider's free stake once, and warns when it is below the market's minimum."""
    try:
        e = ctx.stake.eligibility(ctx.address)
    except Exception as exc:  # noqa: BLE001 - a warning only; the node may still be starting
        log.warning("could not read stake of %s: %s", ctx.address, exc)
        return
    if e.staked < e.min_stake:
        log.warning("provider %s has %d wei staked, below the minimum %d: stake before expecting jobs",
                     ctx.address, e.staked, e.min_stake)
    else:
        log.info("provider %s: %d wei free stake, %d staked", ctx.address, e.free, e.staked)


def heartbeat_loop(ctx: WorkerContext, stop: threading.Event) -> None:
    check_stake(ctx)
    while not stop.is_set():
        beat(ctx)
        stop.wait(ctx.settings.heartbeat_s)

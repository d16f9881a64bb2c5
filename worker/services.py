"""The worker process's background threads (heartbeat, dispute defender), started once with the Celery worker."""

from __future__ import annotations

import logging
import threading

from worker.bootstrap import context

log = logging.getLogger("agora.worker")

_stop = threading.Event()
_threads: list[threading.Thread] = []


def start_services() -> None:
    from worker.defender import defender_loop
    from worker.heartbeat import heartbeat_loop

    if _threads:
        return
    ctx = context()
    if ctx.settings.threads is not None:
        import torch

        torch.set_num_threads(ctx.settings.threads)  # results do not depend on it (RepOps); only speed does
    _stop.clear()
    for name, fn in (("heartbeat", heartbeat_loop), ("defender", defender_loop)):
        t = threading.Thread(target=fn, args=(ctx, _stop), name=f"agora-{name}", daemon=True)
        t.start()
        _threads.append(t)
    log.info("worker %s: consuming %s on %s, device %s%s", ctx.address, ctx.settings.queue,
             ctx.settings.broker_url, ctx.settings.device,
             f", FAULT {ctx.settings.fault} (test behaviour)" if ctx.settings.fault else "")


def stop_services() -> None:
    _stop.set()
    for t in _threads:
        t.join(timeout=5)
    _threads.clear()

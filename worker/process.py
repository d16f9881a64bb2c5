"""Starts a provider worker process: the Celery worker on the provider's queue plus the background threads.

Shared by `agora worker start` and `python -m worker`; both take the same options.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from worker.settings import WorkerSettings


@dataclass(frozen=True)
class StartOptions:
    key_file: str | None = None
    device: str | None = None
    coordinator: str | None = None
    rpc: str | None = None
    deployment: str | None = None
    fault: str | None = None
    broker: str | None = None
    hostname: str | None = None
    loglevel: str = "INFO"


def settings_from(opts: StartOptions) -> WorkerSettings:
    return WorkerSettings.from_env(
        opts.key_file, device=opts.device, coordinator_url=opts.coordinator, rpc_url=opts.rpc,
        deployment_file=opts.deployment, fault=opts.fault, broker_url=opts.broker,
    )


def start(settings: WorkerSettings, *, hostname: str | None = None, loglevel: str = "INFO") -> None:
    """Runs until interrupted: Celery (solo pool: one job at a time, in this process) on `provider.<address>`."""
    logging.basicConfig(level=getattr(logging, loglevel.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns the decisions
    from worker import bootstrap
    from worker.celery_app import app, transport_options

    bootstrap.configure(settings)
    app.conf.broker_url = settings.broker_url
    app.conf.broker_transport_options = transport_options(settings.visibility_timeout_s, settings.broker_url,
                                                          os.environ.get("AGORA_BROKER_DIR"))
    app.conf.task_default_queue = settings.queue
    node = hostname or f"agora-{settings.address.lower()[:10]}-{os.getpid()}@%h"
    app.worker_main([
        "worker", "--pool=solo", "--concurrency=1", "-Q", settings.queue, "-n", node,
        f"--loglevel={loglevel}", "--without-gossip", "--without-mingle",
    ])

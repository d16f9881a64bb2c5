"""Wires one worker process: settings → coordinator client, chain clients, workspace root, Redis for leases.

`context()` builds the process's `WorkerContext` once (from `configure(settings)` or, for a plain
`celery -A worker.celery_app worker`, from the AGORA_* environment) and every task and thread shares it.
"""

from __future__ import annotations

import logging
import threading
from functools import cached_property

import redis

from chain.session import ChainSession
from client.api import CoordinatorClient
from worker.settings import WorkerSettings
from worker.workspace import JobWorkspace

log = logging.getLogger("agora.worker")


class WorkerContext(ChainSession):
    """A worker process's chain session plus its coordinator client, Redis and workspace."""

    def __init__(self, settings: WorkerSettings) -> None:
        super().__init__(settings.rpc_url, settings.private_key, settings.deployment_file)
        self.settings = settings

    @property
    def address(self) -> str:
        return self.settings.address

    @cached_property
    def api(self) -> CoordinatorClient:
        return CoordinatorClient(self.settings.coordinator_url, self.settings.private_key)

    @cached_property
    def redis(self) -> redis.Redis | None:
        url = self.settings.broker_url
        if not url.startswith(("redis://", "rediss://")):
            return None
        return redis.Redis.from_url(url)

    @cached_property
    def market_key(self) -> str:
        """Separates deployments in the workspace: a fresh devnet reuses chain id, addresses and job ids."""
        block = self.w3.eth.get_block(self.deployment.deploy_block)
        tag = bytes(block["hash"]).hex()[:12]
        return f"{self.deployment.chain_id}-{self.market.address.lower()}-{tag}"

    def workspace(self, chain_job_id: int) -> JobWorkspace:
        return JobWorkspace(self.settings.workspace / self.address.lower(), self.market_key, chain_job_id)

    def lease_key(self, chain_job_id: int) -> str:
        return f"agora:lease:{self.market_key}:{chain_job_id}"


_CONTEXT: WorkerContext | None = None
_LOCK = threading.Lock()


def configure(settings: WorkerSettings) -> WorkerContext:
    """Sets this process's worker settings (the `agora worker start` path)."""
    global _CONTEXT
    with _LOCK:
        _CONTEXT = WorkerContext(settings)
        return _CONTEXT


def context() -> WorkerContext:
    """This process's context; built from the environment on first use when `configure` was not called."""
    global _CONTEXT
    with _LOCK:
        if _CONTEXT is None:
            _CONTEXT = WorkerContext(WorkerSettings.from_env())
        return _CONTEXT

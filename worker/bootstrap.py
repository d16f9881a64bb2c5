"""Wires one worker process: settings → coordinator client, chain clients, workspace root, Redis for leases.

`context()` builds the process's `WorkerContext` once (from `configure(settings)` or, for a plain
`celery -A worker.celery_app worker`, from the AGORA_* environment) and every task and thread shares it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import redis
from web3 import Web3

from chain.deploy import Deployment
from chain.job_market import JobMarket
from chain.sender import Sender, make_web3
from chain.stake_manager import StakeManager
from client.api import CoordinatorClient
from worker.settings import WorkerSettings
from worker.workspace import JobWorkspace

log = logging.getLogger("agora.worker")


def load_deployment(w3: Web3, deployment_file: Path | None) -> Deployment:
    if deployment_file is not None:
        return Deployment.from_file(Path(deployment_file))
    return Deployment.load(int(w3.eth.chain_id))


@dataclass
class WorkerContext:
    settings: WorkerSettings

    @property
    def address(self) -> str:
        return self.settings.address

    @cached_property
    def w3(self) -> Web3:
        return make_web3(self.settings.rpc_url)

    @cached_property
    def deployment(self) -> Deployment:
        return load_deployment(self.w3, self.settings.deployment_file)

    @cached_property
    def sender(self) -> Sender:
        return Sender(self.w3, self.settings.private_key, None, self.deployment.decoder())

    @cached_property
    def market(self) -> JobMarket:
        return JobMarket(self.deployment.address("JobMarket"), self.sender, from_block=self.deployment.deploy_block)

    @cached_property
    def stake(self) -> StakeManager:
        return StakeManager(self.deployment.address("StakeManager"), self.sender)

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

"""A provider worker's configuration: command-line options over AGORA_* environment variables over defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from client.identity import load_private_key
from worker.faults import WorkerFault, parse_worker_fault
from worker.workspace import DEFAULT_ROOT

KEY_ENV = "AGORA_PROVIDER_KEY"
KEY_FILE_ENV = "AGORA_PROVIDER_KEY_FILE"


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


@dataclass(frozen=True)
class WorkerSettings:
    private_key: str
    coordinator_url: str = "http://127.0.0.1:8000"
    rpc_url: str = "http://127.0.0.1:8545"
    deployment_file: Path | None = None  # None: deployments/<chainId>.json of the node's chain
    device: str = "cpu"
    fault: WorkerFault | None = None
    broker_url: str = "redis://127.0.0.1:6379/0"
    # Redis redelivers an unacked task only after this long; short on a devnet so a killed worker's job moves on.
    visibility_timeout_s: float = 60.0
    heartbeat_s: float = 10.0
    dispute_poll_s: float = 1.0
    progress_every: int = 1  # record the loss of every this many steps (all are sent, in batches)
    lease_ttl_s: float = 20.0  # how long a job's run lease outlives its last refresh
    workspace: Path = DEFAULT_ROOT
    repops_version: str = "1"
    max_params: int = 5_000_000
    # the memory it offers one training step, advertised to the matcher (AGORA_MAX_STEP_MEMORY, bytes);
    # None: half the machine's RAM, or the GPU's memory on cuda (worker/heartbeat.py)
    max_step_bytes: int | None = None
    threads: int | None = None

    @property
    def address(self) -> str:
        from eth_account import Account

        return str(Account.from_key(self.private_key).address)

    @property
    def queue(self) -> str:
        return provider_queue(self.address)

    @classmethod
    def from_env(cls, key_file: str | Path | None = None, **overrides: object) -> WorkerSettings:
        """Reads AGORA_* variables; keyword overrides (from the command line) win when not None."""
        env = os.environ
        deployment = env.get("AGORA_DEPLOYMENT_FILE")
        threads = env.get("AGORA_WORKER_THREADS")
        base = cls(
            private_key=load_private_key(key_file, KEY_ENV, KEY_FILE_ENV),
            coordinator_url=env.get("AGORA_COORDINATOR_URL", cls.coordinator_url),
            rpc_url=env.get("AGORA_RPC_URL", cls.rpc_url),
            deployment_file=Path(deployment) if deployment else None,
            device=env.get("AGORA_DEVICE", cls.device),
            fault=parse_worker_fault(env.get("AGORA_FAULT")),
            broker_url=env.get("AGORA_BROKER_URL", cls.broker_url),
            visibility_timeout_s=_env_float("AGORA_VISIBILITY_TIMEOUT_S", cls.visibility_timeout_s),
            heartbeat_s=_env_float("AGORA_HEARTBEAT_S", cls.heartbeat_s),
            dispute_poll_s=_env_float("AGORA_DISPUTE_POLL_S", cls.dispute_poll_s),
            progress_every=int(env.get("AGORA_PROGRESS_EVERY", cls.progress_every)),
            lease_ttl_s=_env_float("AGORA_LEASE_TTL_S", cls.lease_ttl_s),
            workspace=Path(env.get("AGORA_WORKER_DIR", str(cls.workspace))).expanduser(),
            repops_version=env.get("AGORA_REPOPS_VERSION", cls.repops_version),
            threads=int(threads) if threads else None,
            max_step_bytes=int(env["AGORA_MAX_STEP_MEMORY"]) if env.get("AGORA_MAX_STEP_MEMORY") else None,
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        if isinstance(given.get("fault"), str):
            given["fault"] = parse_worker_fault(str(given["fault"]))
        if isinstance(given.get("deployment_file"), str):
            given["deployment_file"] = Path(str(given["deployment_file"]))
        return replace(base, **given)  # type: ignore[arg-type]


def provider_queue(address: str) -> str:
    """The Celery queue the coordinator dispatches a provider's jobs to (docs/API.md)."""
    return f"provider.{address.lower()}"

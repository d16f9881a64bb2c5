"""Where a devnet lives and what `agora devnet up` recorded about it (state.json), plus the endpoints every other
command defaults to: the running devnet's, else AGORA_COORDINATOR_URL / AGORA_RPC_URL / AGORA_DEPLOYMENT_FILE.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = "state.json"


def devnet_dir() -> Path:
    """$AGORA_DEVNET_DIR, else .agora/devnet under the current folder."""
    return Path(os.environ.get("AGORA_DEVNET_DIR") or Path.cwd() / ".agora" / "devnet").resolve()


@dataclass
class Account:
    address: str
    key_file: str


@dataclass
class DevnetState:
    """Everything `up` started and where it is; `processes` maps a service name to its start order."""

    coordinator: str
    rpc: str
    chain_id: int
    deployment: str
    database: str
    broker: str
    artifact_dir: str
    accounts: dict[str, Account]
    services: list[str]
    params: dict[str, Any] = field(default_factory=dict)
    started_at: float = 0.0

    def save(self, root: Path) -> Path:
        root.mkdir(parents=True, exist_ok=True)
        path = root / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, root: Path | None = None) -> DevnetState | None:
        path = (root or devnet_dir()) / STATE_FILE
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        raw["accounts"] = {k: Account(**v) for k, v in raw.get("accounts", {}).items()}
        return cls(**raw)

    def key_file(self, role: str) -> Path | None:
        acct = self.accounts.get(role)
        return Path(acct.key_file) if acct else None


@dataclass(frozen=True)
class Endpoints:
    """Where a command talks to: coordinator REST, chain RPC and the deployment file (None when unknown)."""

    coordinator: str | None
    rpc: str | None
    deployment: Path | None
    devnet: DevnetState | None


def endpoints(coordinator: str | None = None, rpc: str | None = None, deployment: Path | None = None) -> Endpoints:
    """Explicit options win; then the running devnet's state file; then the AGORA_* environment."""
    state = DevnetState.load()
    env_dep = os.environ.get("AGORA_DEPLOYMENT_FILE")
    return Endpoints(
        coordinator=(coordinator or (state.coordinator if state else None) or os.environ.get("AGORA_COORDINATOR_URL")),
        rpc=rpc or (state.rpc if state else None) or os.environ.get("AGORA_RPC_URL"),
        deployment=deployment or (Path(state.deployment) if state else None) or (Path(env_dep) if env_dep else None),
        devnet=state,
    )

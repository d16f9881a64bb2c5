"""Configuration of the verifier and referee processes: command-line options over AGORA_* variables over defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from client.identity import load_private_key
from verifier.faults import VerifierFault, parse_verifier_fault

ROLE_KEYS = {
    "verifier": ("AGORA_VERIFIER_KEY", "AGORA_VERIFIER_KEY_FILE"),
    "referee": ("AGORA_REFEREE_KEY", "AGORA_REFEREE_KEY_FILE"),
}


@dataclass(frozen=True)
class VerifierSettings:
    private_key: str
    coordinator_url: str = "http://127.0.0.1:8000"
    rpc_url: str = "http://127.0.0.1:8545"
    deployment_file: Path | None = None
    broker_url: str = "redis://127.0.0.1:6379/0"  # Redis: where op-input hand-overs are announced
    device: str = "cpu"
    fault: VerifierFault | None = None
    always: bool = False  # re-run every submitted job, whatever its spec's verification policy
    poll_s: float = 1.0
    game_poll_s: float = 0.2

    @property
    def address(self) -> str:
        from eth_account import Account

        return str(Account.from_key(self.private_key).address)

    @classmethod
    def from_env(cls, role: str, key_file: str | Path | None = None, **overrides: object) -> VerifierSettings:
        env = os.environ
        key_env, key_file_env = ROLE_KEYS[role]
        deployment = env.get("AGORA_DEPLOYMENT_FILE")
        base = cls(
            private_key=load_private_key(key_file, key_env, key_file_env),
            coordinator_url=env.get("AGORA_COORDINATOR_URL", cls.coordinator_url),
            rpc_url=env.get("AGORA_RPC_URL", cls.rpc_url),
            deployment_file=Path(deployment) if deployment else None,
            broker_url=env.get("AGORA_BROKER_URL", cls.broker_url),
            device=env.get("AGORA_DEVICE", cls.device),
            fault=parse_verifier_fault(env.get("AGORA_FAULT")) if role == "verifier" else None,
            always=env.get("AGORA_VERIFY_ALL", "").lower() in ("1", "true", "yes"),
            poll_s=float(env.get("AGORA_VERIFIER_POLL_S", cls.poll_s)),
            game_poll_s=float(env.get("AGORA_GAME_POLL_S", cls.game_poll_s)),
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        if isinstance(given.get("fault"), str):
            given["fault"] = parse_verifier_fault(str(given["fault"]))
        if isinstance(given.get("deployment_file"), str):
            given["deployment_file"] = Path(str(given["deployment_file"]))
        return replace(base, **given)  # type: ignore[arg-type]

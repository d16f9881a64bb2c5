"""The coordinator's configuration: one pydantic-settings object read from AGORA_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a coordinator process needs to know; wired once in `coordinator.app.create_app`."""

    model_config = SettingsConfigDict(env_prefix="AGORA_", extra="ignore")

    database_url: str = "sqlite:///.agora/coordinator.db"
    broker_url: str = "redis://127.0.0.1:6379/0"
    broker_dir: Path | None = Field(
        default=None,
        description="folder of kombu's filesystem transport (broker_url filesystem://), no Redis needed",
    )
    rpc_url: str = "http://127.0.0.1:8545"
    deployment_file: Path | None = Field(
        default=None,
        description="deployments/<chainId>.json written by chain/deploy.py; None = derive from chain id",
    )
    chain_id: int = 31337
    # The MATCHER key signs assign/expire transactions; it comes from a file or the environment, never argv.
    matcher_key: SecretStr | None = None
    matcher_key_file: Path | None = None

    confirmations: int = Field(
        default=2, ge=0, description="blocks a log must be buried under before it counts"
    )
    indexer_poll_s: float = 1.0
    indexer_batch_blocks: int = Field(default=2000, ge=1)
    matcher_poll_s: float = 2.0

    artifact_dir: Path = Path(".agora/artifacts")
    max_dataset_bytes: int = 64 * 1024 * 1024
    max_artifact_bytes: int = 512 * 1024 * 1024
    max_json_bytes: int = 1024 * 1024

    siwe_domain: str = "localhost"
    siwe_uri: str = "http://localhost"
    siwe_statement: str = "Sign in to the Agora coordinator."
    nonce_ttl_s: int = 300
    token_ttl_s: int = 24 * 3600
    # What needs no sign-in is rate-limited per client IP (coordinator/limits.py): a burst, then a rate.
    signin_burst: int = Field(default=120, ge=1)
    signin_per_s: float = Field(default=2.0, gt=0)
    max_live_nonces: int = Field(default=5, ge=1, description="outstanding sign-in nonces kept per address")
    idempotency_ttl_s: int = Field(default=24 * 3600, ge=1, description="how long an Idempotency-Key replays")

    # Who may read jobs' specs and datasets to re-run them (coordinator/access.py): comma-separated addresses.
    verifiers: str = ""
    referee_address: str | None = Field(default=None, description="default: DisputeGame.referee() on-chain")

    heartbeat_ttl_s: int = 60
    repops_version: str = "1"
    provider_max_queue: int = Field(default=4, ge=1, description="jobs queued on one provider at most")
    collateral_bps: int = Field(
        default=10_000, ge=0, description="default collateral, basis points of the price"
    )
    dispatch_enabled: bool = True
    dev_signin_dir: Path | None = Field(
        default=None,
        description="devnet only: a folder of <name>.key files the console may sign in as (never set elsewhere)",
    )

    def matcher_private_key(self) -> str | None:
        """The MATCHER key from the key file (first line) or AGORA_MATCHER_KEY, or None when unset."""
        if self.matcher_key_file is not None:
            return self.matcher_key_file.read_text().strip().splitlines()[0].strip()
        if self.matcher_key is not None:
            return self.matcher_key.get_secret_value().strip()
        return None

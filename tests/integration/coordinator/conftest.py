"""Fixtures for coordinator tests: a fresh Postgres database per session (built by `alembic upgrade head`,
dropped at the end), a clean schema per test, the app on the session's anvil deployment, and sign-in helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from chain.anvil import AnvilProcess, DevAccount
from coordinator.app import create_app
from coordinator.chain_gateway import ChainGateway
from coordinator.database import make_engine, make_session_factory, upgrade_to_head
from coordinator.models import Base
from coordinator.settings import Settings
from coordinator.signin import sign
from tests.services import machine_database, machine_redis_url


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with machine_database("agora_test") as url:
        upgrade_to_head(url)
        yield url


@pytest.fixture(scope="session")
def engine(pg_url: str) -> Iterator[Engine]:
    eng = make_engine(pg_url)
    yield eng
    eng.dispose()


@pytest.fixture()
def clean_db(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture()
def sessions(engine: Engine, clean_db: None) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture()
def listed_verifiers() -> str:
    """The coordinator's own verifiers (Settings.verifiers): none; a module that needs some overrides this."""
    return ""


@pytest.fixture()
def settings(pg_url: str, anvil: AnvilProcess, deployed, tmp_path: Path, listed_verifiers: str) -> Settings:
    return Settings(
        verifiers=listed_verifiers,
        database_url=pg_url,
        rpc_url=anvil.rpc_url,
        chain_id=31337,
        deployment_file=deployed.path,
        artifact_dir=tmp_path / "artifacts",
        confirmations=0,
        max_dataset_bytes=256 * 1024,
        max_artifact_bytes=512 * 1024,
        heartbeat_ttl_s=60,
    )


@pytest.fixture()
def gateway(settings: Settings) -> ChainGateway:
    return ChainGateway.from_settings(settings.rpc_url, settings.chain_id, settings.deployment_file)


@pytest.fixture()
def client(settings: Settings, clean_db: None) -> Iterator[TestClient]:
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    app.state.dispose()


@pytest.fixture()
def login(client: TestClient) -> Callable[[DevAccount], dict[str, str]]:
    """login(account) -> Authorization headers for that dev account."""

    def do(account: DevAccount) -> dict[str, str]:
        r = client.post("/v1/auth/nonce", json={"address": account.address})
        assert r.status_code == 200, r.text
        msg = r.json()["message"]
        r = client.post("/v1/auth/login", json={"message": msg, "signature": sign(msg, account.private_key)})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    return do


@pytest.fixture()
def row_counts(engine: Engine) -> Callable[[], dict[str, int]]:
    """Row count of every table, to assert that a rejected request changed nothing."""

    def counts() -> dict[str, int]:
        with engine.connect() as conn:
            return {
                t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in Base.metadata.sorted_tables
            }

    return counts


SPEC: dict = {
    "version": 1,
    "model": {"kind": "mlp", "layers": [64, 32, 10], "activation": "relu"},
    "dataset": {"id": "builtin:digits", "batch_size": 32, "shuffle_seed": 7},
    "loss": "cross_entropy",
    "optimizer": {"kind": "adam", "lr": 0.001},
    "steps": 100,
    "seed": 1234,
    "checkpoint_every": 10,
}


@pytest.fixture()
def spec() -> dict:
    """A small valid job spec (a fresh copy per test)."""
    import copy

    return copy.deepcopy(SPEC)


REDIS_TEST_URL = machine_redis_url()  # Celery messages, in a database of this test process's own


@pytest.fixture()
def fund(client, w3):
    """fund(job_created_json, account): send the escrow tx the API returned, from that (unlocked) dev account."""

    def do(created: dict, account: DevAccount) -> str:
        tx = created["transaction"]
        h = w3.eth.send_transaction(
            {
                "from": account.address,
                "to": tx["to"],
                "data": tx["data"],
                "value": int(tx["value"]),
                "chainId": tx["chainId"],
            }
        )
        receipt = w3.eth.wait_for_transaction_receipt(h)
        assert receipt["status"] == 1
        return "0x" + bytes(h).hex()

    return do


@pytest.fixture()
def redis_queue():
    """A clean Redis database for Celery messages; returns (broker url, redis client)."""
    import redis

    r = redis.Redis.from_url(REDIS_TEST_URL)
    r.flushdb()
    yield REDIS_TEST_URL, r
    r.flushdb()

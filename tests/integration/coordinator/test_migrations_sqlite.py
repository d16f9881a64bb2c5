"""Alembic builds the same schema the models describe, on Postgres and on SQLite, and the embedded SQLite
default runs the whole funding path (API → chain → indexer)."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import inspect

from coordinator.app import create_app
from coordinator.chain_gateway import ChainGateway
from coordinator.database import ROOT, make_engine, make_session_factory, upgrade_to_head
from coordinator.indexer import Indexer
from coordinator.matcher import Matcher
from coordinator.models import Base, Job
from coordinator.signin import sign

pytestmark = pytest.mark.integration


def _config(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def test_migrations_match_models_on_postgres_and_sqlite(pg_url, tmp_path):
    sqlite_url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade_to_head(sqlite_url)
    for url in (pg_url, sqlite_url):
        command.check(_config(url))  # raises when models and migrations disagree
        engine = make_engine(url)
        assert set(inspect(engine).get_table_names()) >= set(Base.metadata.tables)
        engine.dispose()


def test_sqlite_default_runs_funding_and_matching(
    tmp_path, settings, roles, spec, w3, chain_snapshot, stake_as
):
    url = f"sqlite:///{tmp_path / 'coordinator.db'}"
    upgrade_to_head(url)
    cfg = settings.model_copy(
        update={"database_url": url, "matcher_key": SecretStr(roles.matcher.private_key)}
    )
    app = create_app(cfg)
    sessions = make_session_factory(make_engine(url))
    gateway = ChainGateway.from_settings(cfg.rpc_url, cfg.chain_id, cfg.deployment_file)
    indexer = Indexer(sessions, gateway, cfg)
    recorder: list[tuple[int, str]] = []

    class Recorder:
        def dispatch(self, job_id: int, provider: str) -> None:
            recorder.append((job_id, provider))

    matcher = Matcher(sessions, gateway, cfg, Recorder())

    def token(c: TestClient, account) -> dict[str, str]:
        msg = c.post("/v1/auth/nonce", json={"address": account.address}).json()["message"]
        r = c.post("/v1/auth/login", json={"message": msg, "signature": sign(msg, account.private_key)})
        return {"Authorization": f"Bearer {r.json()['token']}"}

    with TestClient(app) as c:
        created = c.post(
            "/v1/jobs",
            json={"spec": spec, "price_wei": 4242, "deadline_s": 86400},
            headers=token(c, roles.client),
        ).json()
        tx = created["transaction"]
        h = w3.eth.send_transaction(
            {"from": roles.client.address, "to": tx["to"], "data": tx["data"], "value": int(tx["value"])}
        )
        w3.eth.wait_for_transaction_receipt(h)
        stake_as(roles.provider).stake(10**18)
        hb = {
            "capabilities": {"devices": ["cpu"], "max_params": 10**6},
            "queue_depth": 0,
            "repops_version": "1",
        }
        assert c.post("/v1/providers/heartbeat", json=hb, headers=token(c, roles.provider)).status_code == 200
        indexer.catch_up()
        job_id = created["job"]["id"]
        assert c.get(f"/v1/jobs/{job_id}").json()["status"] == "open"
        assert matcher.tick().assigned == [(job_id, roles.provider.address.lower())]
        indexer.catch_up()
        assert c.get(f"/v1/jobs/{job_id}").json()["status"] == "assigned"
    assert recorder == [(job_id, roles.provider.address.lower())]
    app.state.dispose()
    with sessions() as s:
        assert s.get(Job, job_id).provider == roles.provider.address.lower()

"""Alembic builds the same schema the models describe, on Postgres and on SQLite, and the embedded SQLite
default runs the whole funding path (API → chain → indexer)."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from sqlalchemy import inspect

from coordinator.app import create_app
from coordinator.chain_gateway import ChainGateway
from coordinator.database import ROOT, make_engine, make_session_factory, upgrade_to_head
from coordinator.indexer import Indexer
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


def test_sqlite_default_runs_the_funding_path(tmp_path, settings, roles, spec, w3, chain_snapshot):
    url = f"sqlite:///{tmp_path / 'coordinator.db'}"
    upgrade_to_head(url)
    cfg = settings.model_copy(update={"database_url": url})
    app = create_app(cfg)
    with TestClient(app) as c:
        msg = c.post("/v1/auth/nonce", json={"address": roles.client.address}).json()["message"]
        token = c.post(
            "/v1/auth/login", json={"message": msg, "signature": sign(msg, roles.client.private_key)}
        ).json()["token"]
        created = c.post(
            "/v1/jobs",
            json={"spec": spec, "price_wei": 4242, "deadline_s": 86400},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        tx = created["transaction"]
        h = w3.eth.send_transaction(
            {"from": roles.client.address, "to": tx["to"], "data": tx["data"], "value": int(tx["value"])}
        )
        w3.eth.wait_for_transaction_receipt(h)
        gateway = ChainGateway.from_settings(cfg.rpc_url, cfg.chain_id, cfg.deployment_file)
        Indexer(make_session_factory(make_engine(url)), gateway, cfg).catch_up()
        job = c.get(f"/v1/jobs/{created['job']['id']}").json()
        assert job["status"] == "open" and job["chain_job_id"] is not None
    app.state.dispose()
    with make_session_factory(make_engine(url))() as s:
        assert s.get(Job, created["job"]["id"]).status == "open"

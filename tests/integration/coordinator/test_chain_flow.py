"""The coordinator against a real anvil: funding opens a job only once JobPosted is indexed; the matcher assigns
on-chain with the MATCHER key, enqueues on the provider's Celery queue (real Redis), explains waits, and
re-matches when a provider does not accept in time."""

from __future__ import annotations

import base64
import json

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from coordinator.dispatch import CeleryDispatcher
from coordinator.indexer import Indexer
from coordinator.matcher import Matcher
from coordinator.models import Assignment, ChainEvent, Job, Provider

pytestmark = pytest.mark.integration
ETHER = 10**18


def heartbeat(client, headers, max_params=10**6):
    r = client.post(
        "/v1/providers/heartbeat",
        headers=headers,
        json={
            "capabilities": {"devices": ["cpu"], "max_params": max_params},
            "queue_depth": 0,
            "repops_version": "1",
        },
    )
    assert r.status_code == 200, r.text


def queued(redis_client, provider: str) -> list[tuple[str, list]]:
    out = []
    for raw in redis_client.lrange(f"provider.{provider.lower()}", 0, -1):
        msg = json.loads(raw)
        args = json.loads(base64.b64decode(msg["body"]))[0]
        out.append((msg["headers"]["task"], args))
    return out


def kinds(client, job_id: int) -> list[str]:
    return [e["kind"] for e in client.get(f"/v1/jobs/{job_id}/events").json()["items"]]


def test_fund_match_dispatch_and_rematch_on_accept_timeout(
    client,
    login,
    roles,
    spec,
    fund,
    settings,
    sessions,
    gateway,
    chain_snapshot,
    stake_as,
    market_as,
    time_travel,
    redis_queue,
):
    broker, rds = redis_queue
    settings = settings.model_copy(
        update={"matcher_key": SecretStr(roles.matcher.private_key), "broker_url": broker}
    )
    indexer = Indexer(sessions, gateway, settings)
    matcher = Matcher(sessions, gateway, settings, CeleryDispatcher(broker))
    hc = login(roles.client)
    created = client.post(
        "/v1/jobs", json={"spec": spec, "price_wei": ETHER // 100, "deadline_s": 7 * 86400}, headers=hc
    ).json()
    job_id = created["job"]["id"]

    # Not funded yet: the indexer has nothing to say and the job stays awaiting_funding.
    indexer.catch_up()
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "awaiting_funding"
    fund(created, roles.client)
    indexer.catch_up()
    job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "open" and job["chain_job_id"] is not None

    # Nobody is alive: the job waits, and the timeline says why.
    r = matcher.tick()
    assert r.assigned == [] and "no live provider" in r.waiting[job_id]
    assert kinds(client, job_id)[-1] == "waiting"

    # A provider stakes (seen only through confirmed events) and heartbeats: it gets the job.
    stake_as(roles.provider).stake(ETHER)
    hp = login(roles.provider)
    heartbeat(client, hp)
    indexer.catch_up()
    assert int(client.get(f"/v1/providers/{roles.provider.address}").json()["free_stake_wei"]) == ETHER
    r = matcher.tick()
    assert r.assigned == [(job_id, roles.provider.address.lower())]
    assert queued(rds, roles.provider.address) == [("agora.worker.run_job", [job_id])]
    indexer.catch_up()
    job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "assigned" and job["provider"] == roles.provider.address.lower()
    # A second round does not assign it again.
    assert matcher.tick().assigned == []
    assert len(queued(rds, roles.provider.address)) == 1

    # The provider lets acceptBy pass: the matcher expires it on-chain and re-matches to someone else.
    time_travel(3600)
    r = matcher.tick()
    assert r.expired == [job_id]
    indexer.catch_up()
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "open"
    heartbeat(client, hp)
    r = matcher.tick()
    assert r.assigned == [] and "expire" in r.waiting[job_id]
    stake_as(roles.provider2).stake(ETHER)
    heartbeat(client, login(roles.provider2))
    indexer.catch_up()
    r = matcher.tick()
    assert r.assigned == [(job_id, roles.provider2.address.lower())]
    indexer.catch_up()
    market_as(roles.provider2).accept(job["chain_job_id"])
    indexer.catch_up()
    job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "running" and job["provider"] == roles.provider2.address.lower()
    locked = client.get(f"/v1/providers/{roles.provider2.address}").json()
    assert int(locked["locked_stake_wei"]) == int(created["terms"]["collateral"])
    ks = kinds(client, job_id)
    for k in ("JobPosted", "JobAssigned", "AssignmentExpired", "JobAccepted", "assign_sent", "expire_sent"):
        assert k in ks, ks
    with sessions() as s:
        assert (
            s.execute(
                select(func.count()).select_from(Assignment).where(Assignment.active.is_(True))
            ).scalar_one()
            == 1
        )


def test_indexer_derives_state_only_from_confirmed_events(
    client, login, roles, spec, fund, settings, sessions, gateway, chain_snapshot, anvil
):
    settings = settings.model_copy(update={"confirmations": 3})
    indexer = Indexer(sessions, gateway, settings)
    created = client.post(
        "/v1/jobs",
        json={"spec": spec, "price_wei": 12345, "deadline_s": 7 * 86400},
        headers=login(roles.client),
    ).json()
    fund(created, roles.client)
    indexer.catch_up()
    assert client.get(f"/v1/jobs/{created['job']['id']}").json()["status"] == "awaiting_funding"
    anvil.mine(3)
    indexer.catch_up()
    assert client.get(f"/v1/jobs/{created['job']['id']}").json()["status"] == "open"


def test_jobposted_with_other_terms_does_not_open_the_job(
    client, login, roles, spec, settings, sessions, gateway, chain_snapshot, market_as
):
    indexer = Indexer(sessions, gateway, settings)
    created = client.post(
        "/v1/jobs",
        json={"spec": spec, "price_wei": 5000, "deadline_s": 7 * 86400},
        headers=login(roles.client),
    ).json()
    t = created["terms"]
    # Same spec hash and client but a lower price than the job claims: not this job's escrow.
    market_as(roles.client).post_job(
        spec_hash=t["specHash"],
        num_steps=t["numSteps"],
        checkpoint_every=t["checkpointEvery"],
        ops_per_step=t["opsPerStep"],
        collateral=int(t["collateral"]),
        deadline=t["deadline"],
        price=4999,
    )
    indexer.catch_up()
    with sessions() as s:
        assert s.get(Job, created["job"]["id"]).status == "awaiting_funding"
        assert (
            s.execute(
                select(func.count()).select_from(ChainEvent).where(ChainEvent.name == "JobPosted")
            ).scalar_one()
            >= 1
        )
        assert s.get(Provider, roles.client.address.lower()) is None


def test_matcher_expires_an_open_job_past_its_deadline(
    client, login, roles, spec, fund, settings, sessions, gateway, chain_snapshot, time_travel
):
    settings = settings.model_copy(update={"matcher_key": SecretStr(roles.matcher.private_key)})
    indexer = Indexer(sessions, gateway, settings)
    matcher = Matcher(sessions, gateway, settings, CeleryDispatcher("memory://"))
    created = client.post(
        "/v1/jobs", json={"spec": spec, "price_wei": 777, "deadline_s": 120}, headers=login(roles.client)
    ).json()
    fund(created, roles.client)
    indexer.catch_up()
    job_id = created["job"]["id"]
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "open"
    time_travel(7200)
    assert matcher.tick().expired == [job_id]
    indexer.catch_up()
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "expired"
    assert "JobExpired" in kinds(client, job_id)


def test_enqueue_failure_is_retried_on_a_later_round(
    client, login, roles, spec, fund, settings, sessions, gateway, chain_snapshot, stake_as
):
    import datetime as dt

    class Flaky:
        def __init__(self) -> None:
            self.sent: list[tuple[int, str]] = []
            self.down = True

        def dispatch(self, job_id: int, provider: str) -> None:
            if self.down:
                raise ConnectionError("broker down")
            self.sent.append((job_id, provider))

    settings = settings.model_copy(update={"matcher_key": SecretStr(roles.matcher.private_key)})
    indexer = Indexer(sessions, gateway, settings)
    broker = Flaky()
    matcher = Matcher(sessions, gateway, settings, broker)
    created = client.post(
        "/v1/jobs", json={"spec": spec, "price_wei": 999, "deadline_s": 86400}, headers=login(roles.client)
    ).json()
    fund(created, roles.client)
    stake_as(roles.provider).stake(ETHER)
    heartbeat(client, login(roles.provider))
    indexer.catch_up()
    job_id = created["job"]["id"]
    assert matcher.tick().assigned == [(job_id, roles.provider.address.lower())]
    assert broker.sent == []
    broker.down = False
    matcher.tick()  # too soon: the first attempt may still be in flight elsewhere
    assert broker.sent == []
    matcher.tick(now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))
    assert broker.sent == [(job_id, roles.provider.address.lower())]
    matcher.tick(now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2))
    assert len(broker.sent) == 1

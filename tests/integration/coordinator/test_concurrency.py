"""Races: two matchers, or two identical requests, at the same moment never double-assign or double-create."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from coordinator.indexer import Indexer
from coordinator.matcher import Matcher
from coordinator.models import Assignment, ChainEvent, IdempotencyKey, Job

pytestmark = pytest.mark.integration
ETHER = 10**18


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []
        self.lock = threading.Lock()

    def dispatch(self, job_id: int, provider: str) -> None:
        with self.lock:
            self.sent.append((job_id, provider))


def test_two_matchers_racing_assign_each_job_once(
    client, login, roles, spec, fund, settings, sessions, gateway, chain_snapshot, stake_as
):
    settings = settings.model_copy(update={"matcher_key": SecretStr(roles.matcher.private_key)})
    indexer = Indexer(sessions, gateway, settings)
    h = login(roles.client)
    job_ids = []
    for i in range(3):
        created = client.post(
            "/v1/jobs", json={"spec": spec, "price_wei": 1000 + i, "deadline_s": 7 * 86400}, headers=h
        ).json()
        fund(created, roles.client)
        job_ids.append(created["job"]["id"])
    for acct in (roles.provider, roles.provider2):
        stake_as(acct).stake(ETHER)
        client.post(
            "/v1/providers/heartbeat",
            headers=login(acct),
            json={
                "capabilities": {"devices": ["cpu"], "max_params": 10**6},
                "queue_depth": 0,
                "repops_version": "1",
            },
        )
    indexer.catch_up()

    recorder = Recorder()
    matchers = [Matcher(sessions, gateway, settings, recorder) for _ in range(2)]
    barrier = threading.Barrier(2)

    def run(m: Matcher):
        barrier.wait()
        return m.tick()

    with ThreadPoolExecutor(2) as pool:
        rounds = list(pool.map(run, matchers))
    assigned = [a for r in rounds for a in r.assigned]
    assert sorted(j for j, _ in assigned) == sorted(job_ids)
    assert sorted(j for j, _ in recorder.sent) == sorted(job_ids)
    indexer.catch_up()
    with sessions() as s:
        n_assigned = s.execute(
            select(func.count()).select_from(ChainEvent).where(ChainEvent.name == "JobAssigned")
        ).scalar_one()
        assert n_assigned == 3
        per_job = s.execute(select(Assignment.job_id, func.count()).group_by(Assignment.job_id)).all()
        assert all(n == 1 for _, n in per_job) and len(per_job) == 3
        assert {s.get(Job, j).status for j in job_ids} == {"assigned"}
    # fairness: both providers got work
    assert {p for _, p in assigned} == {roles.provider.address.lower(), roles.provider2.address.lower()}


def test_database_refuses_a_second_active_assignment(client, login, roles, spec, sessions):
    job_id = client.post(
        "/v1/jobs", json={"spec": spec, "price_wei": 5, "deadline_s": 3600}, headers=login(roles.client)
    ).json()["job"]["id"]
    with sessions() as s:
        s.add(Assignment(job_id=job_id, provider="0x" + "01" * 20, status="pending", active=True))
        s.commit()
        s.add(Assignment(job_id=job_id, provider="0x" + "02" * 20, status="pending", active=True))
        with pytest.raises(IntegrityError):
            s.commit()


def test_same_idempotency_key_racing_creates_one_job(client, login, roles, spec, sessions):
    h = login(roles.client)
    barrier = threading.Barrier(4)
    body = {"spec": spec, "price_wei": 77, "deadline_s": 3600}

    def post(_):
        barrier.wait()
        return client.post("/v1/jobs", json=body, headers={**h, "Idempotency-Key": "race-1"})

    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(post, range(4)))
    assert all(r.status_code in (200, 201) for r in responses), [r.text for r in responses]
    assert len({r.json()["job"]["id"] for r in responses}) == 1
    with sessions() as s:
        assert s.execute(select(func.count()).select_from(Job)).scalar_one() == 1
        assert s.execute(select(func.count()).select_from(IdempotencyKey)).scalar_one() == 1

"""A provider that let a job's accept window pass gets it offered again after REOFFER_AFTER_EXPIRY, so a job
whose every capable provider missed the window (e.g. all of them during a coordinator outage: they could not
fetch the spec) is re-matched instead of waiting for its deadline. Before: excluded forever (seen in
`agora bench soak`: one job of 200 sat open until its deadline)."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import SecretStr
from sqlalchemy import update

from coordinator.dispatch import CeleryDispatcher
from coordinator.indexer import Indexer
from coordinator.matcher import REOFFER_AFTER_EXPIRY, Matcher
from coordinator.models import Assignment, utcnow

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("chain_snapshot")]
ETHER = 10**18


def _heartbeat(client, headers) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/v1/providers/heartbeat", headers=headers, json={
        "capabilities": {"devices": ["cpu"], "max_params": 10**6}, "queue_depth": 0, "repops_version": "1"})
    assert r.status_code == 200, r.text


def test_a_missed_accept_window_is_forgiven_after_a_while(client, login, roles, spec, fund, settings, sessions,
                                                          gateway, stake_as, time_travel, chain_snapshot):
    settings = settings.model_copy(update={"matcher_key": SecretStr(roles.matcher.private_key)})
    indexer = Indexer(sessions, gateway, settings)
    matcher = Matcher(sessions, gateway, settings, CeleryDispatcher("memory://"))
    created = client.post("/v1/jobs", json={"spec": spec, "price_wei": ETHER // 100, "deadline_s": 7 * 86400},
                          headers=login(roles.client)).json()
    job_id = created["job"]["id"]
    fund(created, roles.client)
    stake_as(roles.provider).stake(ETHER)
    hp = login(roles.provider)
    _heartbeat(client, hp)
    indexer.catch_up()
    assert matcher.tick().assigned == [(job_id, roles.provider.address.lower())]
    indexer.catch_up()

    time_travel(3600)  # the only provider lets acceptBy pass
    assert matcher.tick().expired == [job_id]
    indexer.catch_up()
    _heartbeat(client, hp)
    r = matcher.tick()
    assert r.assigned == [] and "expire" in r.waiting[job_id]  # not offered straight back

    with sessions() as s:  # the expiry is now older than the re-offer delay
        s.execute(update(Assignment).where(Assignment.job_id == job_id)
                  .values(updated_at=utcnow() - REOFFER_AFTER_EXPIRY - dt.timedelta(seconds=1)))
        s.commit()
    _heartbeat(client, hp)
    assert matcher.tick().assigned == [(job_id, roles.provider.address.lower())]

"""A provider that stops giving signs of life on an accepted job loses it after one liveness window (issue 11,
item 2): the matcher calls reclaimStalled, the indexer reopens the job with the forfeit on its timeline, and the
job goes to another provider, never back to the silent one. A heartbeat on-chain keeps the job."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from test_chain_flow import heartbeat  # tests/integration/coordinator is on sys.path (no __init__)

from coordinator.dispatch import CeleryDispatcher
from coordinator.indexer import Indexer
from coordinator.matcher import Matcher
from coordinator.models import Assignment, utcnow

pytestmark = pytest.mark.integration
ETHER = 10**18


def stalled_forfeit(events: list[dict]) -> int:
    msg = next(e for e in events if e["kind"] == "JobStalled")["message"]
    return int(msg.split("forfeited ")[1].split(" wei")[0])


def _services(settings, roles, sessions, gateway) -> tuple[Indexer, Matcher]:  # type: ignore[no-untyped-def]
    """The indexer and a matcher holding the MATCHER key (its dispatches go nowhere: memory://)."""
    settings = settings.model_copy(update={"matcher_key": SecretStr(roles.matcher.private_key)})
    return Indexer(sessions, gateway, settings), Matcher(sessions, gateway, settings, CeleryDispatcher("memory://"))


def _accepted_job(client, login, roles, spec, fund, indexer, matcher, market_as, stake_as,  # type: ignore[no-untyped-def]
                  provider) -> tuple[int, int]:
    """A funded job the matcher gave to `provider` (staked, heartbeating), accepted on-chain: (job id, chain id)."""
    stake_as(provider).stake(ETHER)
    heartbeat(client, login(provider))
    created = client.post("/v1/jobs", json={"spec": spec, "price_wei": ETHER // 100, "deadline_s": 3600},
                          headers=login(roles.client)).json()
    fund(created, roles.client)
    job_id = created["job"]["id"]
    indexer.catch_up()
    matcher.tick()
    chain_id = client.get(f"/v1/jobs/{job_id}").json()["chain_job_id"]
    market_as(provider).accept(chain_id)
    indexer.catch_up()
    return job_id, chain_id


def test_a_silent_provider_loses_the_job_and_another_finishes_it(
    client, login, roles, spec, fund, settings, sessions, gateway, chain_snapshot, stake_as, market_as, time_travel,
    deployed,
):
    settings = settings.model_copy(update={"heartbeat_ttl_s": 3600})
    indexer, matcher = _services(settings, roles, sessions, gateway)
    window = int(deployed.params["liveness_window_s"])
    silent, other = roles.provider, roles.provider2
    job_id, chain_id = _accepted_job(client, login, roles, spec, fund, indexer, matcher, market_as, stake_as, silent)
    # Alive: a heartbeat inside the window keeps the job.
    time_travel(window - 10)
    market_as(silent).heartbeat(chain_id, 0, b"\x00" * 32)
    indexer.catch_up()
    time_travel(20)
    matcher.tick()
    indexer.catch_up()
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "running"
    # Silent for a whole window: reclaimed.
    time_travel(window + 1)
    credit_before = stake_as(roles.client).credit_of(roles.client.address)
    matcher.tick()
    indexer.catch_up()
    job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "open" and job["provider"] is None
    events = client.get(f"/v1/jobs/{job_id}/events").json()["items"]
    kinds = [e["kind"] for e in events]
    assert "Heartbeat" in kinds and "reclaim_sent" in kinds and "JobStalled" in kinds
    stalled = next(e for e in events if e["kind"] == "JobStalled")
    assert silent.address.lower() in stalled["message"] and "forfeited" in stalled["message"]
    assert stalled_forfeit(events) > 0
    # The forfeit is the client's, as a StakeManager credit (`agora wallet withdraw` collects it).
    assert stake_as(roles.client).credit_of(roles.client.address) == credit_before + stalled_forfeit(events)
    # The silent one never gets it back, not even long after (an expired accept window is forgiven in minutes).
    heartbeat(client, login(silent))
    matcher.tick(now=utcnow() + dt.timedelta(minutes=10))
    with sessions() as s:
        assert s.execute(select(Assignment).where(Assignment.job_id == job_id, Assignment.active)).first() is None
    # Another provider gets it.
    stake_as(other).stake(ETHER)
    heartbeat(client, login(other))
    heartbeat(client, login(silent))
    indexer.catch_up()
    matcher.tick()
    with sessions() as s:
        active = s.execute(select(Assignment).where(Assignment.job_id == job_id, Assignment.active)).scalars().one()
    assert active.provider == other.address.lower()


def test_a_job_that_proves_impossible_after_accept_is_abandoned_not_sat_on(
    client, login, roles, spec, fund, settings, sessions, gateway, chain_snapshot, stake_as, market_as
):
    from worker.preflight import abandon_unrunnable

    indexer, matcher = _services(settings, roles, sessions, gateway)
    provider = roles.provider
    hp = login(provider)
    job_id, chain_id = _accepted_job(client, login, roles, spec, fund, indexer, matcher, market_as, stake_as, provider)
    collateral = int(client.get(f"/v1/jobs/{job_id}").json()["collateral_wei"])

    class Api:  # the worker's REST client, reduced to the one call, against the real route
        def decline(self, jid: int, reason: str) -> dict:
            r = client.post(f"/v1/jobs/{jid}/declined", json={"reason": reason}, headers=hp)
            assert r.status_code == 201, r.text
            return r.json()

    assert abandon_unrunnable(market_as(provider), Api(), job_id, chain_id, "the dataset cannot serve the spec")
    indexer.catch_up()
    job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "open" and job["provider"] is None
    events = {e["kind"]: e for e in client.get(f"/v1/jobs/{job_id}/events").json()["items"]}
    assert "cannot-run" in events["JobAbandoned"]["message"] and "dataset" in events["declined"]["message"]
    forfeited = int(events["JobAbandoned"]["message"].split("forfeited ")[1].split(" wei")[0])
    # The small abandon forfeit, not the deadline's: the rest of the collateral is free stake again.
    assert 0 < forfeited < collateral // 10
    assert stake_as(provider).free_stake_of(provider.address) == ETHER - forfeited

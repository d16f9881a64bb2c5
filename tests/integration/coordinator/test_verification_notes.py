"""The verifier's decisions and the provider's refusals reach the job's one timeline (POST /verification, /declined):
signed, validated, recorded once, and readable by anyone in GET /v1/jobs/{id}/events."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def _job(client, login, roles, sessions, spec) -> int:
    from coordinator.models import Job

    job_id = client.post(
        "/v1/jobs", json={"spec": spec, "price_wei": 10, "deadline_s": 3600}, headers=login(roles.client)
    ).json()["job"]["id"]
    with sessions() as s:
        job = s.get(Job, job_id)
        job.status, job.provider, job.chain_job_id = "assigned", roles.provider.address.lower(), 78
        s.commit()
    return job_id


def test_verifier_decisions_land_in_the_timeline_once(client, login, roles, sessions, spec):
    job_id = _job(client, login, roles, sessions, spec)
    hv = login(roles.challenger)
    body = {"decision": "not_challenged", "reason": "model matches, root differs"}
    assert client.post(f"/v1/jobs/{job_id}/verification", json=body).status_code == 401  # unsigned
    first = client.post(f"/v1/jobs/{job_id}/verification", json=body, headers=hv)
    assert first.status_code == 201, first.text
    again = client.post(f"/v1/jobs/{job_id}/verification", json=body, headers=hv)
    assert again.json()["id"] == first.json()["id"]  # a retried report is kept once
    challenged = {"decision": "challenged", "reason": "roots differ", "game_id": 3}
    assert client.post(f"/v1/jobs/{job_id}/verification", json=challenged, headers=hv).status_code == 201
    for bad in ({"decision": "maybe"}, {"decision": "agrees", "reason": "x" * 501}, {"decision": "late", "game_id": 0}):
        r = client.post(f"/v1/jobs/{job_id}/verification", json=bad, headers=hv)
        assert r.status_code == 422, r.text
    assert client.post("/v1/jobs/999999/verification", json=body, headers=hv).status_code == 404
    events = [e for e in client.get(f"/v1/jobs/{job_id}/events").json()["items"] if e["kind"] == "verification"]
    assert [e["data"]["decision"] for e in events] == ["not_challenged", "challenged"]
    assert events[0]["data"]["verifier"] == roles.challenger.address.lower()
    assert events[1]["data"]["game_id"] == 3 and events[0]["source"] == "verifier"


def test_only_the_assigned_provider_declines(client, login, roles, sessions, spec):
    job_id = _job(client, login, roles, sessions, spec)
    body = {"reason": "on-chain numSteps 21 != spec steps 20"}
    r = client.post(f"/v1/jobs/{job_id}/declined", json=body, headers=login(roles.stranger))
    assert r.status_code == 403, r.text
    assert client.post(f"/v1/jobs/{job_id}/declined", json={"reason": ""}, headers=login(roles.provider)).status_code == 422
    r = client.post(f"/v1/jobs/{job_id}/declined", json=body, headers=login(roles.provider))
    assert r.status_code == 201, r.text
    events = [e for e in client.get(f"/v1/jobs/{job_id}/events").json()["items"] if e["kind"] == "declined"]
    assert len(events) == 1 and "numSteps 21" in events[0]["message"]

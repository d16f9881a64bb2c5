"""GET /v1/jobs/{id}/overview (the console job page's first read) is the five reads it replaces, part for part,
on Postgres and anvil: the job, its progress, its timeline, its disputes and its result."""

from __future__ import annotations

from sqlalchemy import update

from coordinator.models import Dispute, Job, ProgressPoint


def test_overview_is_the_reads_it_replaces(client, login, roles, sessions, spec):
    h = login(roles.client)
    job_id = client.post("/v1/jobs", json={"spec": spec, "price_wei": 1000, "deadline_s": 3600}, headers=h).json()["job"]["id"]
    other = client.post("/v1/jobs", json={"spec": spec, "price_wei": 1001, "deadline_s": 3600}, headers=h).json()["job"]["id"]
    p = roles.provider.address.lower()
    with sessions() as s:
        s.execute(update(Job).where(Job.id == job_id).values(provider=p, status="running", chain_job_id=job_id))
        s.add_all([ProgressPoint(job_id=job_id, step=k, loss=2.0 / k) for k in (1, 2, 3)])
        s.add_all([ProgressPoint(job_id=other, step=1, loss=9.0)])  # another job's point stays out
        s.add(Dispute(id=7, chain_job_id=job_id, defender=p, challenger=roles.provider2.address.lower(), phase="bisect"))
        s.commit()

    got = client.get(f"/v1/jobs/{job_id}/overview")
    assert got.status_code == 200, got.text
    o = got.json()
    assert o["job"] == client.get(f"/v1/jobs/{job_id}").json()
    assert o["progress"] == client.get(f"/v1/jobs/{job_id}/progress").json()
    assert [pt["step"] for pt in o["progress"]["points"]] == [1, 2, 3]
    assert o["events"] == client.get(f"/v1/jobs/{job_id}/events", params={"limit": 500}).json()
    assert [e["kind"] for e in o["events"]["items"]] == ["created"]
    assert o["disputes"] == client.get("/v1/disputes", params={"job_id": job_id}).json()["items"]
    assert [d["id"] for d in o["disputes"]] == [7] and o["disputes"][0]["job_id"] == job_id
    assert o["result"] == client.get(f"/v1/jobs/{job_id}/result").json()

    # polled like the other reads: an unchanged overview is a 304, a new point changes it
    tag = got.headers["etag"]
    assert client.get(f"/v1/jobs/{job_id}/overview", headers={"If-None-Match": tag}).status_code == 304
    with sessions() as s:
        s.add(ProgressPoint(job_id=job_id, step=4, loss=0.4))
        s.commit()
    changed = client.get(f"/v1/jobs/{job_id}/overview", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.json()["progress"]["latest_step"] == 4

    missing = client.get("/v1/jobs/999999/overview")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert client.get("/v1/jobs/0/overview").status_code == 422

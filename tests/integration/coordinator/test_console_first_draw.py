"""What makes a console page's first draw one round trip, on Postgres and anvil: GET /v1/jobs/{id}/overview is the
five reads it replaces, part for part (the job, its progress, its timeline, its disputes and its result);
/v1/market/progress?listed=N names the jobs GET /v1/jobs?limit=N lists; the build's files are served from memory,
gzipped, kept for good by the browser (hashed names) and revalidated by ETag."""

from __future__ import annotations

import re

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


def test_listed_progress_is_that_of_the_jobs_the_list_shows(client, login, roles, sessions, spec):
    h = login(roles.client)
    ids = [client.post("/v1/jobs", json={"spec": spec, "price_wei": 1000 + i, "deadline_s": 3600}, headers=h).json()["job"]["id"]
           for i in range(4)]
    p = roles.provider.address.lower()
    with sessions() as s:
        s.execute(update(Job).where(Job.id.in_(ids[:2])).values(provider=p, status="running"))
        s.add_all([ProgressPoint(job_id=i, step=k, loss=1.0 / (i + k)) for i in ids for k in (1, 2)])
        s.commit()

    def latest(**params: object) -> list[int]:
        r = client.get("/v1/market/progress", params=params)
        assert r.status_code == 200, r.text
        return [it["job_id"] for it in r.json()["items"]]

    def listed_ids(**params: object) -> list[int]:
        return sorted(j["id"] for j in client.get("/v1/jobs", params=params).json()["items"])

    assert latest(listed=2) == listed_ids(limit=2) == sorted(ids[2:])  # the newest two
    assert latest(listed=50, status="running") == listed_ids(limit=50, status="running") == sorted(ids[:2])
    assert latest(listed=50, provider=p) == sorted(ids[:2])
    cursor = client.get("/v1/jobs", params={"limit": 3}).json()["next_cursor"]
    assert latest(listed=3, cursor=cursor) == listed_ids(limit=3, cursor=cursor)
    assert latest(listed=1, client=roles.stranger.address.lower()) == []
    # neither ids nor listed: the caller named no jobs
    bad = client.get("/v1/market/progress")
    assert bad.status_code == 422 and "listed" in bad.json()["error"]["message"]
    assert client.get("/v1/market/progress", params={"listed": 0}).status_code == 422
    assert client.get("/v1/market/progress", params={"listed": 5, "status": "nonsense"}).status_code == 422


def test_the_build_is_served_from_memory_kept_for_good_and_revalidated(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-cache"
    assert client.get("/", headers={"If-None-Match": page.headers["etag"]}).status_code == 304
    names = re.findall(r'(?:src|href)="/assets/([^"]+)"', page.text)
    assert names
    for name in names:
        got = client.get(f"/assets/{name}")
        assert got.status_code == 200 and got.headers["cache-control"] == "public, max-age=31536000, immutable"
        want = "javascript" if name.endswith(".js") else "text/css"
        assert want in got.headers["content-type"], (name, got.headers["content-type"])
        again = client.get(f"/assets/{name}", headers={"If-None-Match": f'"other", {got.headers["etag"]}'})
        assert again.status_code == 304 and again.content == b""
        # gzipped for a browser that takes it (the client decodes it back to the same bytes), as is for one that not
        assert got.headers.get("content-encoding") == "gzip" and got.headers["vary"] == "Accept-Encoding"
        plain = client.get(f"/assets/{name}", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers and plain.content == got.content
        assert plain.headers["etag"] != got.headers["etag"]
    # only the build's own file names: no way out of the folder, no dot files, the API's 404 shape
    for bad in ["nope.js", "..%2Findex.html", ".hidden", "%2E%2E"]:
        r = client.get(f"/assets/{bad}")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", bad

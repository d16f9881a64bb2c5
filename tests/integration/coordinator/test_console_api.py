"""What the web console reads beyond the CLI's API: the page itself at `/`, the devnet-only dev sign-in, the
market view (/v1/market, /records, /progress, /tx) and ETag revalidation of polled reads — on Postgres and anvil."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import update

from coordinator.app import create_app
from coordinator.models import Dispute, Job, ProgressPoint


def _jobs(client, login, account, spec, n: int) -> list[int]:
    h = login(account)
    return [client.post("/v1/jobs", json={"spec": spec, "price_wei": 1000 + i, "deadline_s": 3600}, headers=h).json()["job"]["id"]
            for i in range(n)]


def test_console_is_served_at_root_and_the_api_keeps_its_json_404s(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-cache"
    assets = re.findall(r'(?:src|href)="(/assets/[^"]+)"', r.text)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets), assets
    for a in assets:
        got = client.get(a)
        assert got.status_code == 200 and len(got.content) > 100, a
    assert "cdn" not in r.text.lower() and "https://" not in r.text  # everything it needs comes from here
    # Only / and /assets belong to the console: an unknown path is still the API's 404 in the one error shape.
    missing = client.get("/v1/no-such-thing")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert client.get("/assets/nope.js").status_code == 404
    assert client.get("/openapi.json").status_code == 200


def test_dev_signin_is_off_unless_the_devnet_turns_it_on(client, roles):
    r = client.get("/v1/auth/dev/accounts")
    assert r.status_code == 404 and r.json()["error"]["code"] == "dev_signin_off"
    r = client.post("/v1/auth/dev/login", json={"name": "client"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "dev_signin_off"


def test_dev_signin_gives_the_same_token_a_wallet_sign_in_gives(settings, clean_db, roles, tmp_path, spec):
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "client.key").write_text(roles.client.private_key + "\n")
    (keys / "worker-1.key").write_text(roles.provider.private_key + "\n")
    (keys / "not a name.key").write_text(roles.stranger.private_key)  # ignored: not an account name
    app = create_app(settings.model_copy(update={"dev_signin_dir": keys}))
    try:
        with TestClient(app, raise_server_exceptions=False) as c:
            listed = c.get("/v1/auth/dev/accounts").json()["accounts"]
            assert listed == [{"name": "client", "address": roles.client.address.lower()},
                              {"name": "worker-1", "address": roles.provider.address.lower()}]
            tok = c.post("/v1/auth/dev/login", json={"name": "client"})
            assert tok.status_code == 200, tok.text
            assert tok.json()["address"] == roles.client.address.lower()
            h = {"Authorization": f"Bearer {tok.json()['token']}"}
            created = c.post("/v1/jobs", json={"spec": spec, "price_wei": 1000, "deadline_s": 3600}, headers=h)
            assert created.status_code == 201 and created.json()["job"]["client"] == roles.client.address.lower()
            assert c.post("/v1/auth/dev/login", json={"name": "referee"}).json()["error"]["code"] == "unknown_account"
            assert c.post("/v1/auth/dev/login", json={"name": "../client"}).status_code == 422
    finally:
        app.state.dispose()


def test_market_records_and_latest_progress(client, login, roles, sessions, spec, deployed):
    m = client.get("/v1/market").json()
    assert m["chain_id"] == 31337
    assert set(m["contracts"]) >= {"JobMarket", "StakeManager", "DisputeGame"}
    assert m["params"]["move_timeout_s"] == deployed.params["move_timeout_s"]

    ids = _jobs(client, login, roles.client, spec, 4)
    p, p2 = roles.provider.address.lower(), roles.provider2.address.lower()
    with sessions() as s:
        for job_id, (provider, status) in zip(ids, [(p, "finalized"), (p, "finalized"), (p, "failed"), (p2, "running")], strict=True):
            s.execute(update(Job).where(Job.id == job_id).values(provider=provider, status=status, chain_job_id=job_id))
        s.add_all([ProgressPoint(job_id=ids[3], step=k, loss=2.0 / k) for k in (1, 2, 3)])
        s.add_all([
            Dispute(id=1, chain_job_id=ids[2], defender=p, challenger=p2, phase="settled", outcome="challenger_wins"),
            Dispute(id=2, chain_job_id=ids[1], defender=p, challenger=p2, phase="settled", outcome="defender_wins"),
            Dispute(id=3, chain_job_id=ids[0], defender=p, challenger=p2, phase="settled", outcome="void"),
            Dispute(id=4, chain_job_id=ids[3], defender=p2, challenger=p, phase="bisect"),
        ])
        s.commit()
    records = {r["address"]: r for r in client.get("/v1/market/records").json()["items"]}
    assert records[p] == {"address": p, "jobs_done": 2, "jobs_failed": 1, "jobs_active": 0, "disputes_won": 1, "disputes_lost": 1}
    assert records[p2] == {"address": p2, "jobs_done": 0, "jobs_failed": 0, "jobs_active": 1, "disputes_won": 1, "disputes_lost": 1}

    got = client.get("/v1/market/progress", params=[("job_id", i) for i in ids]).json()["items"]
    assert got == [{"job_id": ids[3], "latest_step": 3, "latest_loss": 2.0 / 3}]
    assert client.get("/v1/market/progress").status_code == 422
    assert client.get("/v1/market/progress", params=[("job_id", i) for i in range(1, 202)]).status_code == 422


def test_polled_reads_revalidate_with_etags(client, login, roles, spec):
    ids = _jobs(client, login, roles.client, spec, 2)
    first = client.get("/v1/jobs")
    tag = first.headers["etag"]
    again = client.get("/v1/jobs", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag
    assert client.get("/v1/jobs", headers={"If-None-Match": f'W/{tag}, "other"'}).status_code == 304
    client.post(f"/v1/jobs/{ids[0]}/cancel", headers=login(roles.client))  # something changed
    changed = client.get("/v1/jobs", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    # errors and non-GETs carry no tag
    assert "etag" not in client.get("/v1/jobs/999999").headers
    assert "etag" not in client.post("/v1/auth/nonce", json={"address": roles.client.address}).headers


def test_tx_view_decodes_the_market_events_of_a_transaction(client, login, roles, spec, fund, chain_snapshot):
    created = client.post("/v1/jobs", json={"spec": spec, "price_wei": 10**15, "deadline_s": 3600}, headers=login(roles.client)).json()
    tx_hash = fund(created, roles.client)
    t = client.get(f"/v1/market/tx/{tx_hash}").json()
    assert t["status"] == 1 and t["sender"] == roles.client.address.lower() and t["value_wei"] == str(10**15)
    assert [(e["contract"], e["name"]) for e in t["events"]] == [("JobMarket", "JobPosted")]
    missing = client.get("/v1/market/tx/0x" + "ab" * 32)
    assert missing.status_code == 404
    assert client.get("/v1/market/tx/0x1234").status_code == 422

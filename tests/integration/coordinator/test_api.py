"""REST API happy paths and bad input: every rejection is a clear 4xx in the one error shape and leaves the
database unchanged."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
from eth_utils import keccak

pytestmark = pytest.mark.integration


def npz(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def assert_error(r, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and {"code", "message", "details"} <= set(body["error"])
    assert "Traceback" not in r.text
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


def test_create_job_returns_escrow_tx_and_is_idempotent(client, login, roles, deployed, row_counts, spec):
    SPEC = spec
    h = login(roles.client)
    body = {"spec": SPEC, "price_wei": "1000000000000000", "deadline_s": 3600}
    r = client.post("/v1/jobs", json=body, headers={**h, "Idempotency-Key": "k1"})
    assert r.status_code == 201, r.text
    out = r.json()
    job = out["job"]
    assert job["status"] == "awaiting_funding"
    assert job["client"] == roles.client.address.lower()
    tx = out["transaction"]
    assert (
        tx["to"] == deployed.address("JobMarket")
        and tx["value"] == "1000000000000000"
        and tx["chainId"] == 31337
    )
    assert tx["data"].startswith("0x") and len(tx["data"]) == 2 + 8 + 6 * 64
    assert out["terms"]["specHash"] == job["spec_hash"]
    # the canonical spec bytes hash to the spec hash
    spec_bytes = client.get(f"/v1/jobs/{job['id']}/spec", headers=h).content
    assert "0x" + keccak(spec_bytes).hex() == job["spec_hash"]

    before = row_counts()
    again = client.post("/v1/jobs", json=body, headers={**h, "Idempotency-Key": "k1"})
    assert again.status_code == 200 and again.json()["job"]["id"] == job["id"]
    assert row_counts() == before
    other = client.post("/v1/jobs", json={**body, "price_wei": "5"}, headers={**h, "Idempotency-Key": "k1"})
    assert_error(other, 409, "idempotency_conflict")
    assert row_counts() == before

    assert client.get(f"/v1/jobs/{job['id']}").json()["id"] == job["id"]
    events = client.get(f"/v1/jobs/{job['id']}/events").json()["items"]
    assert [e["kind"] for e in events] == ["created"]


def test_list_jobs_paginates_and_filters(client, login, roles, spec):
    SPEC = spec
    h = login(roles.client)
    ids = []
    for i in range(5):
        r = client.post("/v1/jobs", json={"spec": SPEC, "price_wei": 1000 + i, "deadline_s": 3600}, headers=h)
        ids.append(r.json()["job"]["id"])
    seen, cursor = [], None
    while True:
        r = client.get("/v1/jobs", params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200
        page = r.json()
        seen += [j["id"] for j in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)
    assert len(client.get("/v1/jobs", params={"client": roles.client.address}).json()["items"]) == 5
    assert client.get("/v1/jobs", params={"client": roles.stranger.address}).json()["items"] == []
    assert len(client.get("/v1/jobs", params={"status": "awaiting_funding"}).json()["items"]) == 5
    assert_error(client.get("/v1/jobs", params={"status": "nope"}), 422)
    assert_error(client.get("/v1/jobs", params={"cursor": "garbage!"}), 422)


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda s: s.update(steps=10**9), "body.spec.steps"),
        (lambda s: s["model"].update(layers=[64, 4096, 4096, 10]), "body.spec"),
        (lambda s: s["dataset"].update(batch_size=0), "body.spec.dataset.batch_size"),
        (lambda s: s.update(checkpoint_every=1000), "body.spec"),
        (lambda s: s["optimizer"].update(lr=-1), "body.spec.optimizer"),
        (lambda s: s.update(code="import os"), "body.spec.code"),
    ],
)
def test_spec_out_of_bounds_is_422_naming_the_field(client, login, roles, row_counts, mutate, field, spec):
    h = login(roles.client)
    mutate(spec)
    before = row_counts()
    err = assert_error(
        client.post("/v1/jobs", json={"spec": spec, "price_wei": 1, "deadline_s": 3600}, headers=h),
        422,
        "validation_error",
    )
    assert any(d["field"].startswith(field) for d in err["details"]), err
    assert row_counts() == before


def test_bad_requests_are_clear_4xx_and_change_nothing(client, login, roles, row_counts, spec):
    SPEC = spec
    h = login(roles.client)
    before = row_counts()
    assert_error(
        client.post("/v1/jobs", content=b"{not json", headers={**h, "Content-Type": "application/json"}),
        400,
        "malformed_json",
    )
    assert_error(
        client.post("/v1/jobs", json={"spec": SPEC, "price_wei": 0, "deadline_s": 3600}, headers=h), 422
    )
    assert_error(
        client.post("/v1/jobs", json={"spec": SPEC, "price_wei": "abc", "deadline_s": 3600}, headers=h), 422
    )
    assert_error(
        client.post("/v1/jobs", json={"spec": SPEC, "price_wei": 1, "deadline_s": 1}, headers=h), 422
    )
    unknown_ds = copy.deepcopy(SPEC)
    unknown_ds["dataset"]["id"] = "sha256:" + "ab" * 32
    unknown_ds["model"]["layers"] = [4, 8, 3]
    err = assert_error(
        client.post("/v1/jobs", json={"spec": unknown_ds, "price_wei": 1, "deadline_s": 3600}, headers=h),
        422,
        "unknown_dataset",
    )
    assert err["details"][0]["field"] == "body.spec.dataset.id"
    assert_error(client.post("/v1/jobs", json={"spec": SPEC, "price_wei": 1, "deadline_s": 3600}), 401)
    assert_error(
        client.post(
            "/v1/jobs",
            json={"spec": SPEC, "price_wei": 1, "deadline_s": 3600},
            headers={"Authorization": "Bearer forged"},
        ),
        401,
        "invalid_token",
    )
    huge = b'{"spec": {}, "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    assert_error(
        client.post("/v1/jobs", content=huge, headers={**h, "Content-Type": "application/json"}),
        413,
        "payload_too_large",
    )
    assert_error(client.get("/v1/jobs/999999"), 404, "not_found")
    assert_error(client.get("/v1/jobs/abc"), 422)
    assert_error(client.get("/v1/disputes/12345"), 404)
    assert_error(client.get("/v1/providers/0x" + "11" * 20), 404)
    assert_error(client.get("/v1/providers/nothex"), 422)
    assert_error(client.get("/v1/nowhere"), 404)
    assert_error(client.delete("/v1/jobs"), 405)
    assert_error(
        client.post(
            "/v1/providers/heartbeat",
            json={
                "capabilities": {"devices": ["tpu"], "max_params": 1},
                "queue_depth": 0,
                "repops_version": "1",
            },
            headers=h,
        ),
        422,
    )
    assert row_counts() == before


def test_dataset_upload_validates_npz(client, login, roles, row_counts, spec):
    SPEC = spec
    h = login(roles.client)
    # 60 rows: after the held-out fifth, enough for the spec's batch of 32 (checked before escrow).
    good = npz(x=np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32), y=np.arange(60) % 3)
    r = client.post("/v1/datasets", content=good, headers={**h, "Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    ds = r.json()
    assert ds["id"].startswith("sha256:") and ds["num_examples"] == 60 and ds["x_shape"] == [60, 4]
    # multipart works too and is content-addressed (same id)
    r2 = client.post("/v1/datasets", files={"file": ("d.npz", good)}, headers=h)
    assert r2.status_code == 201 and r2.json()["id"] == ds["id"]
    assert client.get(f"/v1/datasets/{ds['id']}").json()["id"] == ds["id"]
    assert client.get(f"/v1/artifacts/{ds['id']}", headers=h).content == good
    # a job can now use it
    spec = copy.deepcopy(SPEC)
    spec["dataset"]["id"] = ds["id"]
    spec["model"]["layers"] = [4, 8, 3]
    assert (
        client.post(
            "/v1/jobs", json={"spec": spec, "price_wei": 10, "deadline_s": 3600}, headers=h
        ).status_code
        == 201
    )

    before = row_counts()
    bad = {
        "not a zip": b"hello",
        "missing y": npz(x=np.zeros((3, 2))),
        "nan": npz(x=np.array([[np.nan, 1.0]]), y=np.array([1])),
        "rows differ": npz(x=np.zeros((3, 2)), y=np.zeros(4)),
        "object": npz(x=np.array(["a", "b"]).reshape(2, 1), y=np.zeros(2)),
        "extra": npz(x=np.zeros((2, 2)), y=np.zeros(2), z=np.zeros(1)),
    }
    for why, data in bad.items():
        r = client.post(
            "/v1/datasets", content=data, headers={**h, "Content-Type": "application/octet-stream"}
        )
        assert_error(r, 422, "invalid_dataset" if data else None), why
    too_big = npz(x=np.zeros((100_000, 1)), y=np.zeros(100_000))
    assert_error(
        client.post(
            "/v1/datasets", content=too_big, headers={**h, "Content-Type": "application/octet-stream"}
        ),
        413,
        "payload_too_large",
    )
    assert_error(client.post("/v1/datasets", files={"file": ("d.npz", too_big)}, headers=h), 413)
    assert_error(
        client.post("/v1/datasets", content=b"", headers={**h, "Content-Type": "application/octet-stream"}),
        422,
    )
    assert_error(
        client.post("/v1/datasets", content=good, headers={"Content-Type": "application/octet-stream"}), 401
    )
    assert row_counts() == before


def test_worker_endpoints_need_the_assigned_provider(client, login, roles, sessions, spec):
    SPEC = spec
    from coordinator.models import Job

    hc, hp, hs = login(roles.client), login(roles.provider), login(roles.stranger)
    job_id = client.post(
        "/v1/jobs", json={"spec": SPEC, "price_wei": 10, "deadline_s": 3600}, headers=hc
    ).json()["job"]["id"]
    # Simulate the chain having assigned it (the indexer test covers the real path).
    with sessions() as s:
        job = s.get(Job, job_id)
        job.status, job.provider, job.chain_job_id = "running", roles.provider.address.lower(), 77
        s.commit()
    assert_error(client.post(f"/v1/jobs/{job_id}/progress", json={"step": 1, "loss": 2.0}, headers=hs), 403)
    r = client.post(f"/v1/jobs/{job_id}/progress", json={"step": 1, "loss": 2.0}, headers=hp)
    assert r.status_code == 201
    assert (
        client.post(f"/v1/jobs/{job_id}/progress", json={"step": 1, "loss": 9.0}, headers=hp).json()["loss"]
        == 2.0
    )
    client.post(f"/v1/jobs/{job_id}/progress", json={"step": 5, "loss": 1.5}, headers=hp)
    assert_error(
        client.post(f"/v1/jobs/{job_id}/progress", json={"step": 10**6, "loss": 1.0}, headers=hp), 422
    )
    assert_error(
        client.post(
            f"/v1/jobs/{job_id}/progress",
            content=b'{"step": 1, "loss": NaN}',
            headers={**hp, "Content-Type": "application/json"},
        ),
        422,
    )
    prog = client.get(f"/v1/jobs/{job_id}/progress").json()
    assert prog["latest_step"] == 5 and [p["step"] for p in prog["points"]] == [1, 5]
    plot = client.get(f"/v1/jobs/{job_id}/plot.png")
    assert plot.status_code == 200 and plot.headers["content-type"] == "image/png"
    assert plot.content.startswith(b"\x89PNG\r\n\x1a\n") and len(plot.content) > 2000
    assert_error(client.get("/v1/jobs/999999/plot.png"), 404)

    model = b"model-bytes" * 100
    art = client.post(
        "/v1/artifacts?kind=model", content=model, headers={**hp, "Content-Type": "application/octet-stream"}
    )
    assert art.status_code == 201
    sha = art.json()["sha256"]
    assert client.get(f"/v1/artifacts/{sha}", headers=hp).content == model
    assert_error(
        client.post(f"/v1/jobs/{job_id}/result-artifacts", json={"model_artifact": "cd" * 32}, headers=hp),
        422,
        "unknown_artifact",
    )
    assert_error(
        client.post(f"/v1/jobs/{job_id}/result-artifacts", json={"model_artifact": sha}, headers=hs), 403
    )
    r = client.post(f"/v1/jobs/{job_id}/result-artifacts", json={"model_artifact": sha}, headers=hp)
    assert r.status_code == 200 and r.json()["model_artifact"] == sha
    # only the client downloads the model
    assert_error(client.get(f"/v1/jobs/{job_id}/model", headers=hp), 403)
    assert client.get(f"/v1/jobs/{job_id}/model", headers=hc).content == model
    assert_error(
        client.post(
            "/v1/artifacts",
            content=b"x" * (512 * 1024 + 1),
            headers={**hp, "Content-Type": "application/octet-stream"},
        ),
        413,
    )


def test_cancel_unfunded_job_and_heartbeat(client, login, roles, spec):
    SPEC = spec
    hc, hp = login(roles.client), login(roles.provider)
    job_id = client.post(
        "/v1/jobs", json={"spec": SPEC, "price_wei": 10, "deadline_s": 3600}, headers=hc
    ).json()["job"]["id"]
    assert_error(client.post(f"/v1/jobs/{job_id}/cancel", headers=hp), 403)
    r = client.post(f"/v1/jobs/{job_id}/cancel", headers=hc)
    assert (
        r.status_code == 200 and r.json()["job"]["status"] == "cancelled" and r.json()["transaction"] is None
    )
    assert_error(client.post(f"/v1/jobs/{job_id}/cancel", headers=hc), 409)

    r = client.post(
        "/v1/providers/heartbeat",
        headers=hp,
        json={
            "capabilities": {"devices": ["cpu"], "max_params": 10**6},
            "queue_depth": 0,
            "repops_version": "1",
        },
    )
    assert r.status_code == 200 and r.json()["alive"] is True
    assert client.get(f"/v1/providers/{roles.provider.address}").json()["max_params"] == 10**6
    assert [p["address"] for p in client.get("/v1/providers").json()["items"]] == [
        roles.provider.address.lower()
    ]


def test_health_ready_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["database"] and r.json()["rpc"]
    client.get("/v1/jobs/424242")
    text = client.get("/metrics").text
    assert 'agora_http_requests_total{method="GET",route="/v1/jobs/{job_id}",status="404"}' in text


def test_collateral_must_be_whole_gwei(client, login, roles, row_counts, spec):
    h = login(roles.client)
    before = row_counts()
    err = assert_error(
        client.post(
            "/v1/jobs",
            json={"spec": spec, "price_wei": 10**15, "deadline_s": 3600, "collateral_wei": 10**9 + 1},
            headers=h,
        ),
        422,
    )
    assert err["details"][0]["field"] == "body.collateral_wei"
    assert row_counts() == before
    r = client.post("/v1/jobs", json={"spec": spec, "price_wei": 10**15 + 7, "deadline_s": 3600}, headers=h)
    assert r.status_code == 201
    assert int(r.json()["terms"]["collateral"]) % 10**9 == 0

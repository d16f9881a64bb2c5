"""What an ML user gets back from the coordinator: every step's loss from step 1 (even the steps a worker trained
before the indexer confirmed its assignment), held-out evaluations on the timeline and the plot, and dataset
files in both documented formats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save as st_save
from safetensors.torch import save as st_save_torch

from coordinator.models import Assignment, Job

pytestmark = pytest.mark.integration


def _job(client, login, roles, spec) -> int:
    hc = login(roles.client)
    r = client.post("/v1/jobs", json={"spec": spec, "price_wei": 10, "deadline_s": 3600}, headers=hc)
    assert r.status_code == 201, r.text
    return int(r.json()["job"]["id"])


def test_a_claimed_provider_reports_before_the_assignment_is_indexed(client, login, roles, sessions, spec):
    job_id = _job(client, login, roles, spec)
    hp, hs = login(roles.provider), login(roles.stranger)
    with sessions() as s:  # the matcher's claim: the assign tx is out, JobAssigned not yet confirmed
        job = s.get(Job, job_id)
        job.status, job.chain_job_id = "open", 5
        s.add(Assignment(job_id=job_id, provider=roles.provider.address.lower(), status="pending", active=True))
        s.commit()
    batch = {"points": [{"step": s, "loss": 3.0 - s / 100} for s in range(1, 51)]}
    r = client.post(f"/v1/jobs/{job_id}/progress/batch", json=batch, headers=hp)
    assert r.status_code == 201, r.text  # before: 403, and the worker dropped steps 1..50
    assert r.json() == {"recorded": 50, "latest_step": 50}
    assert client.post(f"/v1/jobs/{job_id}/progress/batch", json=batch, headers=hs).status_code == 403
    # a resend (the worker was unsure the first one landed) keeps the first values
    again = {"points": [{"step": 50, "loss": 9.0}, {"step": 51, "loss": 2.4}],
             "evals": [{"step": 50, "loss": 2.6, "accuracy": 0.5}]}
    r = client.post(f"/v1/jobs/{job_id}/progress/batch", json=again, headers=hp)
    assert r.json() == {"recorded": 1, "latest_step": 51}
    prog = client.get(f"/v1/jobs/{job_id}/progress").json()
    assert [p["step"] for p in prog["points"]] == list(range(1, 52))
    assert prog["points"][49]["loss"] == pytest.approx(2.5)
    events = client.get(f"/v1/jobs/{job_id}/events").json()["items"]
    evals = [e for e in events if e["kind"] == "evaluation"]
    assert len(evals) == 1 and evals[0]["data"] == {"step": 50, "loss": 2.6, "accuracy": 0.5}
    assert "accuracy 0.5000" in evals[0]["message"]
    r = client.post(f"/v1/jobs/{job_id}/progress/batch", json={"points": [{"step": 10**6, "loss": 1.0}]},
                    headers=hp)
    assert r.status_code == 422
    assert client.get(f"/v1/jobs/{job_id}/result").json()["evaluation"] is None  # not after the last step
    final = {"points": [{"step": 100, "loss": 0.4}], "evals": [{"step": 100, "loss": 0.45, "accuracy": 0.875}]}
    assert client.post(f"/v1/jobs/{job_id}/progress/batch", json=final, headers=hp).status_code == 201
    assert client.get(f"/v1/jobs/{job_id}/result").json()["evaluation"] == {"step": 100, "loss": 0.45,
                                                                            "accuracy": 0.875}
    plot = client.get(f"/v1/jobs/{job_id}/plot.png")
    assert plot.status_code == 200 and plot.content.startswith(b"\x89PNG")


def test_dataset_upload_takes_safetensors_images_and_held_out_splits(client, login, roles):
    h = {**login(roles.client), "Content-Type": "application/octet-stream"}
    raw = st_save({"x": np.zeros((12, 1, 8, 8), np.float32), "y": np.arange(12, dtype=np.int64) % 10,
                   "x_test": np.zeros((4, 1, 8, 8), np.float32), "y_test": np.zeros(4, np.int64)})
    r = client.post("/v1/datasets", content=raw, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["x_shape"] == [12, 1, 8, 8] and r.json()["num_examples"] == 12
    lying = st_save({"x": np.zeros((3, 2), np.float32), "y": np.zeros(4, np.int64)})
    r = client.post("/v1/datasets", content=lying, headers=h)
    assert r.status_code == 422 and "one target row per example" in r.json()["error"]["message"]


EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "digits-cnn"


def _upload(client, h, data: bytes) -> str:
    r = client.post("/v1/artifacts", content=data, headers={**h, "Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    return "sha256:" + r.json()["sha256"]


def test_graph_specs_are_checked_before_escrow(client, login, roles, row_counts):
    from verde.program import build_program
    from verde.spec import parse_spec

    hc = login(roles.client)
    spec = json.loads((EXAMPLE / "spec.json").read_text())
    graph, weights = (EXAMPLE / "graph.json").read_bytes(), (EXAMPLE / "weights.safetensors").read_bytes()

    def create(s: dict):
        return client.post("/v1/jobs", json={"spec": s, "price_wei": 10, "deadline_s": 3600}, headers=hc)

    before = row_counts()
    r = client.post("/v1/jobs/estimate", json={"spec": spec, "price_wei": 10**16})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_artifact"
    r = create(spec)  # nothing uploaded yet
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_artifact", r.text
    assert "model.graph" in r.json()["error"]["message"]
    assert _upload(client, hc, graph) == spec["model"]["graph"]
    r = create(spec)
    assert r.status_code == 422 and "model.weights" in r.json()["error"]["message"]
    assert _upload(client, hc, weights) == spec["model"]["weights"]

    doc = json.loads(graph)
    doc["nodes"][3]["op"] = "aten.cumsum.default"  # an op no provider may run
    bad_graph = {**spec, "model": {**spec["model"], "graph": _upload(client, hc, json.dumps(doc).encode())}}
    other_weights = st_save_torch({"fc.weight": torch.zeros(3, 3)})
    bad_weights = {**spec, "model": {**spec["model"], "weights": _upload(client, hc, other_weights)}}
    r = create(bad_graph)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_graph" and "cumsum" in r.text
    r = create(bad_weights)
    assert r.status_code == 422 and r.json()["error"]["code"] == "weights_mismatch", r.text

    wrong = st_save({"x": np.zeros((40, 3, 5, 5), np.float32), "y": np.zeros(40, np.int64)})
    ds = client.post("/v1/datasets", content=wrong, headers={**hc, "Content-Type": "application/octet-stream"})
    bad_data = {**spec, "dataset": {**spec["dataset"], "id": ds.json()["id"]}}
    r = create(bad_data)
    assert r.status_code == 422 and r.json()["error"]["code"] == "dataset_mismatch", r.text
    created = [k for k, v in row_counts().items() if v != before[k] and k not in ("artifacts", "datasets")]
    assert created == []  # refused specs leave no job, spec or event behind

    est = client.post("/v1/jobs/estimate", json={"spec": spec, "price_wei": 10**16})
    assert est.status_code == 200, est.text
    assert row_counts()["jobs"] == before["jobs"]  # an estimate creates nothing
    r = create(spec)
    assert r.status_code == 201, r.text
    job = r.json()["job"]
    assert est.json()["collateral_wei"] != "0" and est.json()["ops_per_step"] == job["ops_per_step"]
    assert est.json()["parameters"] == 3818 and est.json()["step_bytes"] > 4 * 3818
    program = build_program(parse_spec(spec))
    assert job["ops_per_step"] == program.n_ops > program.graph.n_nodes
    assert job["num_params"] == program.graph.parameter_count == 3818


def test_a_model_above_every_providers_memory_waits_and_says_why(
    client, login, roles, fund, settings, sessions, gateway, chain_snapshot, stake_as
):
    from pydantic import SecretStr

    from coordinator.dispatch import CeleryDispatcher
    from coordinator.indexer import Indexer
    from coordinator.matcher import Matcher

    hc, hp = login(roles.client), login(roles.provider)
    spec = json.loads((EXAMPLE / "spec.json").read_text())
    for name in ("graph.json", "weights.safetensors"):
        _upload(client, hc, (EXAMPLE / name).read_bytes())
    settings = settings.model_copy(update={"matcher_key": SecretStr(roles.matcher.private_key)})
    indexer, matcher = Indexer(sessions, gateway, settings), Matcher(sessions, gateway, settings,
                                                                    CeleryDispatcher("memory://"))
    created = client.post("/v1/jobs", json={"spec": spec, "price_wei": 10**15, "deadline_s": 86400}, headers=hc)
    assert created.status_code == 201, created.text
    fund(created.json(), roles.client)
    stake_as(roles.provider).stake(10**18)

    def beat(max_step_bytes):
        r = client.post("/v1/providers/heartbeat", headers=hp, json={
            "capabilities": {"devices": ["cpu"], "max_params": 10**6, "max_step_bytes": max_step_bytes},
            "queue_depth": 0, "repops_version": "1"})
        assert r.status_code == 200, r.text

    beat(64 * 1024)  # far below what one step of the CNN needs
    indexer.catch_up()
    job_id = created.json()["job"]["id"]
    assert matcher.tick().assigned == []
    job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "open" and "MiB one step of this model needs" in job["wait_reason"], job
    events = client.get(f"/v1/jobs/{job_id}/events").json()["items"]
    assert any("MiB one step" in e["message"] for e in events)
    beat(2**30)  # the provider now offers enough
    assert matcher.tick().assigned == [(job_id, roles.provider.address.lower())]

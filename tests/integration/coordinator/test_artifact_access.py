"""Who can read what (docs/API.md): every artifact route against every role and a stranger (issue 11, item 3).

One job on a real anvil: the client's uploaded dataset, its spec, the provider's checkpoint, final model and
dispute evidence, and a challenger (a listed verifier) who disputed the result; the referee is the deployer."""

from __future__ import annotations

import io

import numpy as np
import pytest

from coordinator.indexer import Indexer

pytestmark = pytest.mark.integration
ETHER = 10**18
OCTET = {"Content-Type": "application/octet-stream"}


@pytest.fixture()
def listed_verifiers(roles) -> str:
    return roles.challenger.address  # the challenger is one of the coordinator's verifiers here



def _npz() -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    np.savez(buf, x=rng.normal(size=(64, 64)).astype(np.float32), y=np.arange(64) % 10)
    return buf.getvalue()


def test_every_artifact_route_with_every_role(
    client, login, roles, spec, settings, sessions, gateway, chain_snapshot, fund, market_as, stake_as
):
    who = {name: login(getattr(roles, name))
           for name in ("client", "provider", "challenger", "deployer", "stranger")}
    who["anonymous"] = {}
    ds = client.post("/v1/datasets", content=_npz(), headers={**who["client"], **OCTET}).json()["id"]
    spec["dataset"]["id"] = ds
    created = client.post("/v1/jobs", json={"spec": spec, "price_wei": ETHER // 100, "deadline_s": 3600},
                       headers=who["client"]).json()
    job_id = created["job"]["id"]
    fund(created, roles.client)
    stake_as(roles.provider).stake(ETHER)
    indexer = Indexer(sessions, gateway, settings)
    indexer.catch_up()
    chain_id = client.get(f"/v1/jobs/{job_id}").json()["chain_job_id"]
    market_as(roles.matcher).assign(chain_id, roles.provider.address)
    market_as(roles.provider).accept(chain_id)
    indexer.catch_up()

    def upload(kind: str, data: bytes) -> str:
        r = client.post(f"/v1/artifacts?kind={kind}", content=data, headers={**who["provider"], **OCTET})
        assert r.status_code == 201, r.text
        return r.json()["sha256"]

    checkpoint, model, evidence = upload("checkpoint", b"c" * 999), upload("model", b"m" * 999), upload("blob", b"e" * 99)
    r = client.post(f"/v1/jobs/{job_id}/result-artifacts",
                 json={"model_artifact": model, "checkpoint_artifact": checkpoint}, headers=who["provider"])
    assert r.status_code == 200, r.text
    market_as(roles.provider).submit_result(chain_id, b"\x01" * 32, b"\x02" * 32)
    indexer.catch_up()

    def status(route: str) -> dict[str, int]:
        return {name: client.get(route, headers=h).status_code for name, h in who.items()}

    def expect(route: str, readers: set[str]) -> None:
        want = {name: 200 if name in readers else 401 if name == "anonymous" else 403 for name in who}
        assert status(route) == want, route

    # Before any dispute: the challenger is only a listed verifier.
    expect(f"/v1/artifacts/{model}", {"client", "provider"})
    expect(f"/v1/artifacts/sha256:{model}", {"client", "provider"})
    expect(f"/v1/jobs/{job_id}/model", {"client"})
    expect(f"/v1/artifacts/{ds}", {"client", "provider", "challenger", "deployer"})
    expect(f"/v1/jobs/{job_id}/spec", {"client", "provider", "challenger", "deployer"})
    expect(f"/v1/artifacts/{checkpoint}", {"provider", "deployer"})
    expect(f"/v1/artifacts/{evidence}", {"provider", "challenger", "deployer"})

    # A dispute about the job opens the provider's checkpoints to its challenger; never the model.
    market_as(roles.challenger).challenge(chain_id, b"\x03" * 32)
    indexer.catch_up()
    expect(f"/v1/artifacts/{checkpoint}", {"provider", "challenger", "deployer"})
    expect(f"/v1/artifacts/{model}", {"client", "provider"})
    # The result names the model, but naming is not reading.
    assert client.get(f"/v1/jobs/{job_id}/result").json()["model_artifact"] == model

"""A job's whole on-chain life as the API shows it: submitted result, a challenge opening a dispute game
(phase, interval, deadline, moves with tx hashes), and finalization releasing the provider's collateral."""

from __future__ import annotations

import pytest

from coordinator.indexer import Indexer

pytestmark = pytest.mark.integration
ETHER = 10**18


def test_result_challenge_and_dispute_view(
    client, login, roles, spec, fund, settings, sessions, gateway, chain_snapshot, stake_as, market_as
):
    indexer = Indexer(sessions, gateway, settings)
    created = client.post(
        "/v1/jobs",
        json={
            "spec": spec,
            "price_wei": ETHER // 100,
            "deadline_s": 7 * 86400,
            "collateral_wei": ETHER // 50,
        },
        headers=login(roles.client),
    ).json()
    fund(created, roles.client)
    stake_as(roles.provider).stake(ETHER)
    indexer.catch_up()
    job_id = created["job"]["id"]
    chain_id = client.get(f"/v1/jobs/{job_id}").json()["chain_job_id"]
    market_as(roles.matcher).assign(chain_id, roles.provider.address)
    provider = market_as(roles.provider)
    provider.accept(chain_id)
    provider.submit_result(chain_id, b"\x01" * 32, b"\x02" * 32)
    indexer.catch_up()
    result = client.get(f"/v1/jobs/{job_id}/result").json()
    assert result["status"] == "submitted"
    assert result["trace_root"] == "0x" + "01" * 32 and result["final_model_hash"] == "0x" + "02" * 32
    p = client.get(f"/v1/providers/{roles.provider.address}").json()
    assert int(p["locked_stake_wei"]) == ETHER // 50 and int(p["free_stake_wei"]) == ETHER - ETHER // 50

    receipt = market_as(roles.challenger).challenge(chain_id, b"\x03" * 32)
    indexer.catch_up()
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "disputed"
    disputes = client.get("/v1/disputes", params={"job_id": job_id}).json()["items"]
    assert len(disputes) == 1
    d = client.get(f"/v1/disputes/{disputes[0]['id']}").json()
    assert d["job_id"] == job_id and d["phase"] == "bisect" and d["lo"] == 0 and d["hi"] >= 1
    assert (
        d["defender"] == roles.provider.address.lower()
        and d["challenger"] == roles.challenger.address.lower()
    )
    assert d["deadline_at"] is not None and d["outcome"] is None
    assert [m["kind"] for m in d["moves"]] == ["GameOpened"]
    assert d["moves"][0]["tx_hash"] == receipt.tx_hash
    kinds = [e["kind"] for e in client.get(f"/v1/jobs/{job_id}/events").json()["items"]]
    for k in ("JobPosted", "JobAssigned", "JobAccepted", "ResultSubmitted", "JobChallenged", "GameOpened"):
        assert k in kinds, kinds


def test_finalize_releases_collateral(
    client,
    login,
    roles,
    spec,
    fund,
    settings,
    sessions,
    gateway,
    chain_snapshot,
    stake_as,
    market_as,
    time_travel,
):
    indexer = Indexer(sessions, gateway, settings)
    created = client.post(
        "/v1/jobs",
        json={
            "spec": spec,
            "price_wei": ETHER // 100,
            "deadline_s": 7 * 86400,
            "collateral_wei": ETHER // 50,
        },
        headers=login(roles.client),
    ).json()
    fund(created, roles.client)
    stake_as(roles.provider).stake(ETHER)
    indexer.catch_up()
    job_id = created["job"]["id"]
    chain_id = client.get(f"/v1/jobs/{job_id}").json()["chain_job_id"]
    market_as(roles.matcher).assign(chain_id, roles.provider.address)
    provider = market_as(roles.provider)
    provider.accept(chain_id)
    provider.submit_result(chain_id, b"\x01" * 32, b"\x02" * 32)
    time_travel(3600)
    provider.finalize(chain_id)
    indexer.catch_up()
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "finalized"
    p = client.get(f"/v1/providers/{roles.provider.address}").json()
    assert int(p["locked_stake_wei"]) == 0 and int(p["free_stake_wei"]) == ETHER

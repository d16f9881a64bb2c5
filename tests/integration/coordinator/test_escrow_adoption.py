"""An escrow the coordinator did not create (a raw postJob, or a second postJob for one job) is still indexed as
a job of its client, shown by the API and refundable by `cancel` (issue 11, item 1)."""

from __future__ import annotations

import pytest

from coordinator.indexer import Indexer
from coordinator.projection import UNKNOWN_SPEC

pytestmark = pytest.mark.integration
ETHER = 10**18


def _client_jobs(client, address: str) -> list[dict]:
    return client.get("/v1/jobs", params={"client": address}).json()["items"]


def _jobs_of_chain(client, address: str, chain_job_ids: set[int]) -> list[dict]:
    # The session's anvil keeps the escrows of tests that do not revert the chain, and the indexer adopts those
    # too (as it should): look only at this test's own.
    return [j for j in _client_jobs(client, address) if j["chain_job_id"] in chain_job_ids]


def test_raw_post_job_with_an_unknown_spec_is_shown_and_refundable(
    client, login, roles, settings, sessions, gateway, chain_snapshot, market_as, fund, w3, anvil
):
    indexer = Indexer(sessions, gateway, settings)
    raw = market_as(roles.client).post_job(
        spec_hash=b"\x42" * 32, num_steps=10, checkpoint_every=5, ops_per_step=7,
        collateral=ETHER // 100, deadline=anvil.timestamp() + 3600, price=ETHER // 100,
    )
    indexer.catch_up()
    [job] = _jobs_of_chain(client, roles.client.address, {raw.job_id})
    assert job["status"] == "open"
    assert job["price_wei"] == str(ETHER // 100) and job["wait_reason"] == UNKNOWN_SPEC
    kinds = [e["kind"] for e in client.get(f"/v1/jobs/{job['id']}/events").json()["items"]]
    assert kinds[:2] == ["adopted", "JobPosted"]
    # Refundable: the client's cancel tx for it goes through and the indexer sees the refund.
    credit = market_as(roles.client).credit_of(roles.client.address)
    cancel = client.post(f"/v1/jobs/{job['id']}/cancel", headers=login(roles.client))
    assert cancel.status_code == 200, cancel.text
    fund({"transaction": cancel.json()["transaction"]}, roles.client)
    indexer.catch_up()
    assert client.get(f"/v1/jobs/{job['id']}").json()["status"] == "cancelled"
    assert market_as(roles.client).credit_of(roles.client.address) == credit + ETHER // 100


def test_a_second_escrow_of_one_job_becomes_a_job_of_its_own(
    client, login, roles, spec, settings, sessions, gateway, chain_snapshot, fund
):
    indexer = Indexer(sessions, gateway, settings)
    created = client.post(
        "/v1/jobs", json={"spec": spec, "price_wei": ETHER // 100, "deadline_s": 3600},
        headers=login(roles.client),
    ).json()
    txs = {fund(created, roles.client), fund(created, roles.client)}  # the double-paid submit of issue 11
    indexer.catch_up()
    jobs = [j for j in _client_jobs(client, roles.client.address) if (j["posted_tx"] or "").lower() in txs]
    assert len(jobs) == 2 and {j["status"] for j in jobs} == {"open"}
    assert len({j["chain_job_id"] for j in jobs}) == 2
    second = next(j for j in jobs if j["id"] != created["job"]["id"])
    # Its spec is known, so it is a normal, matchable job with the same terms.
    assert second["spec_hash"] == created["job"]["spec_hash"] and second["num_params"] > 0
    assert second["wait_reason"] is None and second["posted_tx"]


def test_an_adopted_escrow_becomes_matchable_once_its_spec_is_shown(
    client, login, roles, spec, settings, sessions, gateway, chain_snapshot, market_as, anvil
):
    from coordinator.job_terms import ops_per_step
    from verde.spec import parse_spec, spec_hash

    parsed = parse_spec(spec)
    indexer = Indexer(sessions, gateway, settings)
    raw = market_as(roles.client).post_job(
        spec_hash=spec_hash(parsed), num_steps=parsed.steps, checkpoint_every=parsed.checkpoint_every,
        ops_per_step=ops_per_step(parsed), collateral=ETHER // 100, deadline=anvil.timestamp() + 3600,
        price=ETHER // 100,
    )
    indexer.catch_up()
    [adopted] = _jobs_of_chain(client, roles.client.address, {raw.job_id})
    assert adopted["wait_reason"] == UNKNOWN_SPEC and adopted["num_params"] == 0
    h = login(roles.client)
    r = client.post("/v1/jobs", json={"spec": spec, "price_wei": ETHER // 100, "deadline_s": 3600}, headers=h)
    assert r.status_code == 201, r.text
    now = client.get(f"/v1/jobs/{adopted['id']}").json()
    assert now["wait_reason"] is None and now["num_params"] == parsed.model.parameter_count
    assert client.get(f"/v1/jobs/{adopted['id']}/spec", headers=h).content.startswith(b"{")

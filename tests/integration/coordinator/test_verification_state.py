"""A job's `verification` says how far its result was checked (issue 11, item 6): unverified until one of the
coordinator's verifiers reports that it re-ran the job and agrees (replicated when the spec asked for replicas,
spot-checked otherwise), disputed once challenged; a stranger's report moves nothing."""

from __future__ import annotations

import pytest

from coordinator.indexer import Indexer

pytestmark = pytest.mark.integration
ETHER = 10**18


@pytest.fixture()
def listed_verifiers(roles) -> str:
    return roles.challenger.address  # the challenger is one of the coordinator's verifiers here



def test_verification_follows_listed_verifiers_and_challenges(
    client, login, roles, spec, settings, sessions, gateway, chain_snapshot, fund, market_as, stake_as
):
    as_client, verifier, stranger = login(roles.client), login(roles.challenger), login(roles.stranger)
    ids = []
    for replicas in (1, 2):
        spec["verification"] = {"replicas": replicas, "spot_check": 0.5}
        created = client.post("/v1/jobs", json={"spec": spec, "price_wei": ETHER // 100, "deadline_s": 3600},
                           headers=as_client).json()
        fund(created, roles.client)
        ids.append(created["job"]["id"])
    one, two = ids

    def state(job_id: int) -> str:
        return client.get(f"/v1/jobs/{job_id}").json()["verification"]

    def report(job_id: int, who: dict, decision: str) -> None:
        r = client.post(f"/v1/jobs/{job_id}/verification", json={"decision": decision, "reason": "test"}, headers=who)
        assert r.status_code == 201, r.text

    assert state(one) == state(two) == "unverified"
    report(one, verifier, "skipped")
    report(one, stranger, "agrees")  # anyone may say so; only the coordinator's verifiers count
    assert state(one) == "unverified"
    report(one, verifier, "agrees")
    report(two, verifier, "agrees")
    assert (state(one), state(two)) == ("spot-checked", "replicated")
    assert client.get("/v1/jobs", params={"client": roles.client.address}).json()["items"][0]["verification"] \
        == "replicated"
    # A challenge on-chain outranks the agreement.
    stake_as(roles.provider).stake(ETHER)
    indexer = Indexer(sessions, gateway, settings)
    indexer.catch_up()
    chain_id = client.get(f"/v1/jobs/{one}").json()["chain_job_id"]
    market_as(roles.matcher).assign(chain_id, roles.provider.address)
    market_as(roles.provider).accept(chain_id)
    market_as(roles.provider).submit_result(chain_id, b"\x01" * 32, b"\x02" * 32)
    market_as(roles.stranger).challenge(chain_id, b"\x03" * 32)
    indexer.catch_up()
    assert state(one) == "disputed"
    report(one, verifier, "agrees")
    assert state(one) == "disputed"

"""A provider slashed in a dispute is not matched again until it restakes to the minimum, and its record says so
(issue 11, item 6). The slash is folded in through the indexer's own projection; stakes, jobs and the
assignments are real transactions on anvil."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from test_chain_flow import heartbeat  # tests/integration/coordinator is on sys.path (no __init__)

from coordinator import projection
from coordinator.dispatch import CeleryDispatcher
from coordinator.indexer import Indexer
from coordinator.matcher import Matcher
from coordinator.models import Assignment, ChainEvent

pytestmark = pytest.mark.integration
ETHER = 10**18


def _slash(sessions, address: str, amount: int) -> None:
    """A StakeSlashed log as the indexer stores it, folded into the provider's row by the real projection."""
    with sessions() as s:
        row = ChainEvent(block_number=10**9, block_hash="0x" + "ab" * 32, log_index=0, tx_hash="0x" + "cd" * 32,
                         contract="StakeManager", name="StakeSlashed",
                         args={"provider": address, "amount": amount, "to": "0x" + "00" * 20},
                         provider=address.lower())
        s.add(row)
        s.flush()
        projection.apply(s, row)
        s.commit()


def test_a_slashed_provider_waits_for_a_restake(
    client, login, roles, spec, fund, settings, sessions, gateway, chain_snapshot, stake_as
):
    settings = settings.model_copy(update={"matcher_key": SecretStr(roles.matcher.private_key)})
    indexer = Indexer(sessions, gateway, settings)
    matcher = Matcher(sessions, gateway, settings, CeleryDispatcher("memory://"))
    cheater, honest = roles.provider, roles.provider2
    for p in (cheater, honest):
        stake_as(p).stake(ETHER)
        heartbeat(client, login(p))
    indexer.catch_up()
    _slash(sessions, cheater.address, ETHER // 2)
    shown = client.get(f"/v1/providers/{cheater.address}").json()
    assert shown["slashed_wei"] == str(ETHER // 2)
    assert "slashed" in shown["record"]["suspended"] and "stakes again" in shown["record"]["suspended"]
    assert client.get(f"/v1/providers/{honest.address}").json()["record"]["suspended"] is None

    hc = login(roles.client)

    def post_job(seed: int) -> int:
        spec["seed"] = seed
        created = client.post("/v1/jobs", json={"spec": spec, "price_wei": 10**15, "deadline_s": 3600},
                              headers=hc).json()
        fund(created, roles.client)
        return created["job"]["id"]

    jobs = [post_job(1), post_job(2)]
    indexer.catch_up()
    matcher.tick()

    def assignee(job_id: int) -> str | None:
        with sessions() as s:
            a = s.execute(select(Assignment).where(Assignment.job_id == job_id)).scalars().first()
            return a.provider if a else None

    # Both go to the honest provider, although rotation would otherwise have given the cheater one.
    assert [assignee(j) for j in jobs] == [honest.address.lower()] * 2
    # Restaking to the minimum (a real Staked event after the slash) lifts the suspension.
    stake_as(cheater).stake(ETHER)
    indexer.catch_up()
    assert client.get(f"/v1/providers/{cheater.address}").json()["record"]["suspended"] is None
    heartbeat(client, login(cheater))
    third = post_job(3)
    indexer.catch_up()
    matcher.tick()
    assert assignee(third) == cheater.address.lower()

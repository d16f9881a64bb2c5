"""Indexer robustness on a real anvil: reorgs roll back what the orphaned blocks changed, a restart (or a
crash between storing and moving the cursor) neither misses nor duplicates anything."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from coordinator.indexer import CURSOR, Indexer
from coordinator.models import ChainEvent, IndexerCursor, Job, JobEvent, Provider

pytestmark = pytest.mark.integration
ETHER = 10**18


def create(client, headers, spec, price):
    r = client.post(
        "/v1/jobs", json={"spec": spec, "price_wei": price, "deadline_s": 7 * 86400}, headers=headers
    )
    assert r.status_code == 201
    return r.json()


def chain_event_keys(sessions) -> list[tuple[str, int]]:
    with sessions() as s:
        return sorted(s.execute(select(ChainEvent.block_hash, ChainEvent.log_index)).all())


def test_reorg_rolls_back_orphaned_events_and_derived_state(
    client, login, roles, spec, fund, settings, sessions, gateway, chain_snapshot, anvil, stake_as
):
    indexer = Indexer(sessions, gateway, settings)
    h = login(roles.client)
    kept = create(client, h, spec, 1111)
    fund(kept, roles.client)
    stake_as(roles.provider).stake(ETHER)
    indexer.catch_up()
    fork = anvil.snapshot()

    orphan = create(client, h, spec, 2222)
    fund(orphan, roles.client)
    stake_as(roles.provider).stake(ETHER)  # free stake becomes 2 ether on the doomed branch
    indexer.catch_up()
    with sessions() as s:
        assert s.get(Job, orphan["job"]["id"]).status == "open"
        assert s.get(Provider, roles.provider.address.lower()).free_stake_wei == str(2 * ETHER)
    before = chain_event_keys(sessions)

    # Reorg: the branch with the second funding and stake disappears; the new branch is longer.
    anvil.revert(fork)
    anvil.mine(5)
    r = indexer.tick()
    assert r.reorged_to is not None
    indexer.catch_up()
    with sessions() as s:
        assert s.get(Job, kept["job"]["id"]).status == "open"
        o = s.get(Job, orphan["job"]["id"])
        assert o.status == "awaiting_funding" and o.chain_job_id is None
        assert s.get(Provider, roles.provider.address.lower()).free_stake_wei == str(ETHER)
        orphan_timeline = s.execute(select(JobEvent.kind).where(JobEvent.job_id == o.id)).scalars().all()
        assert "JobPosted" not in orphan_timeline
        cursor = s.get(IndexerCursor, CURSOR)
        assert cursor.block_hash == gateway.block_hash(cursor.block_number)
    after = chain_event_keys(sessions)
    assert set(after) < set(before)

    # Re-funding on the canonical chain opens it again.
    fund(orphan, roles.client)
    indexer.catch_up()
    with sessions() as s:
        assert s.get(Job, orphan["job"]["id"]).status == "open"


def test_anvil_reorg_replacing_blocks(
    client, login, roles, spec, fund, settings, sessions, gateway, chain_snapshot, anvil
):
    indexer = Indexer(sessions, gateway, settings)
    created = create(client, login(roles.client), spec, 3333)
    fund(created, roles.client)
    anvil.mine(1)
    indexer.catch_up()
    with sessions() as s:
        assert s.get(Job, created["job"]["id"]).status == "open"
    # Replace the last 2 blocks (the funding tx's block included) with empty ones.
    anvil.rpc("anvil_reorg", [2, []])
    indexer.catch_up()
    with sessions() as s:
        assert s.get(Job, created["job"]["id"]).status == "awaiting_funding"


def test_restart_and_crash_between_store_and_cursor_neither_miss_nor_duplicate(
    client, login, roles, spec, fund, settings, sessions, gateway, chain_snapshot, stake_as, w3
):
    h = login(roles.client)
    jobs = []
    for i in range(4):
        c = create(client, h, spec, 10_000 + i)
        fund(c, roles.client)
        jobs.append(c["job"]["id"])
    stake_as(roles.provider).stake(ETHER)
    head = w3.eth.block_number

    small = settings.model_copy(update={"indexer_batch_blocks": 2})
    first = Indexer(sessions, gateway, small)
    first.tick()
    first.tick()
    del first  # "crash": a new process picks up from the stored cursor
    second = Indexer(sessions, gateway, small)
    second.catch_up()

    expected = sorted(
        ("0x" + bytes(log["blockHash"]).hex(), log["logIndex"])
        for log in w3.eth.get_logs(
            {"fromBlock": gateway.deploy_block, "toBlock": head, "address": list(gateway.addresses.values())}
        )
    )
    assert chain_event_keys(sessions) == expected
    with sessions() as s:
        assert [s.get(Job, j).status for j in jobs] == ["open"] * 4
        timeline_before = s.execute(select(func.count()).select_from(JobEvent)).scalar_one()
        # Crash after storing a batch but before the cursor moved: the cursor points back.
        cursor = s.get(IndexerCursor, CURSOR)
        cursor.block_number = gateway.deploy_block
        cursor.block_hash = gateway.block_hash(gateway.deploy_block)
        s.commit()
    Indexer(sessions, gateway, settings).catch_up()
    assert chain_event_keys(sessions) == expected
    with sessions() as s:
        assert s.execute(select(func.count()).select_from(JobEvent)).scalar_one() == timeline_before
        assert s.get(Provider, roles.provider.address.lower()).free_stake_wei == str(ETHER)

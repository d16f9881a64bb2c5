"""Redis restarted mid-run, Postgres restarted mid-run — each the stack's own server (tests/services.py), never
the machine's. The job still finishes, is submitted once and paid once; while Postgres is away the API answers
503 (database unavailable), never 500.

Redis here keeps nothing across a restart (no persistence), the harshest case: queued tasks and job leases are
gone. The running worker finds its lease lost, stops, and its task comes back through the retry it queues on
the new server (or the coordinator's re-match)."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from chain.stake_manager import StakeManager
from tests.e2e.fault_checks import assert_paid_once
from tests.integration.test_worker_stack import (
    PRICE,
    SPEC,
    Stack,
    ensure_staked,
    post_job,
    stack,
    start_worker,
)

pytestmark = pytest.mark.e2e
__all__ = ["stack"]

OWN_POSTGRES = True
CHALLENGE_WINDOW_S = 15


def _run_through(stack: Stack, provider, client, seed: int, fault) -> None:  # type: ignore[no-untyped-def]
    a = stack.anvil.accounts
    ensure_staked(stack, provider)
    credit_before = StakeManager.connect(stack.deployment, stack.anvil.rpc_url, a[9].private_key) \
        .credit_of(provider.address)
    name = f"worker-{seed}"
    start_worker(stack, provider, name, stake=False)
    try:
        api, job_id = post_job(stack, client, {**SPEC, "steps": 300, "checkpoint_every": 50, "seed": seed})
        stack.wait("training under way", lambda: (api.progress(job_id).get("latest_step") or 0) >= 5,
                   timeout_s=240, describe=lambda: (api.job(job_id), api.events(job_id)))
        fault()
        stack.wait("job finalized after the restart", lambda: _status(api, job_id) == "finalized", timeout_s=600,
                   describe=lambda: (api.job(job_id), api.events(job_id)))
        cid = int(api.job(job_id)["chain_job_id"])
        assert_paid_once(stack, a[9].private_key, provider.address, cid, credit_before, PRICE)
    finally:
        stack.stop(name)


def _status(api, job_id: int) -> str | None:  # type: ignore[no-untyped-def]
    try:
        return str(api.job(job_id)["status"])
    except Exception:  # noqa: BLE001 - the API answers 503 for a moment after a restart
        return None


def test_redis_restarted_mid_run(stack: Stack):
    a = stack.anvil.accounts
    assert stack.redis is not None
    _run_through(stack, a[3], a[2], 41, lambda: stack.redis.restart(down_s=3))  # type: ignore[union-attr]


def test_postgres_restarted_mid_run_answers_503_never_500(stack: Stack):
    a = stack.anvil.accounts
    assert stack.pg is not None
    seen: list[int] = []
    stop = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=stack.coordinator_url, timeout=10) as http:
            while not stop.is_set():
                try:
                    seen.append(http.get("/v1/jobs").status_code)
                except httpx.TransportError:
                    pass
                time.sleep(0.1)

    def restart() -> None:
        t = threading.Thread(target=probe, daemon=True)
        t.start()
        stack.pg.restart(down_s=5)  # type: ignore[union-attr]
        time.sleep(3)
        stop.set()
        t.join(timeout=30)

    _run_through(stack, a[6], a[7], 42, restart)
    assert 500 not in seen, seen
    assert 503 in seen, f"the API never noticed the database was away: {sorted(set(seen))}"

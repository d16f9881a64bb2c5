"""worker.lease: a holder whose lease is taken over or cannot be refreshed finds out and stops training.

Real Redis (the machine's, on a key of this test's own); the runner's training loop is driven with a stub
coordinator, since only the stop matters here.
"""

from __future__ import annotations

import types
import uuid

import pytest
import redis

from verde.interpreter import Interpreter
from verde.spec import parse_spec
from worker.lease import JobLease, LeaseBusy, LeaseLost
from worker.runner import JobRunner
from worker.workspace import JobWorkspace, Manifest

pytestmark = pytest.mark.integration

SPEC = {
    "version": 1,
    "model": {"kind": "mlp", "layers": [64, 8, 10], "activation": "relu"},
    "dataset": {"id": "builtin:digits", "batch_size": 8, "shuffle_seed": 1},
    "loss": "cross_entropy",
    "optimizer": {"kind": "sgd", "lr": 0.1},
    "steps": 40,
    "seed": 1,
    "checkpoint_every": 20,
}


@pytest.fixture
def r():
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        client.ping()
    except redis.RedisError:
        pytest.fail("Redis is not answering on 127.0.0.1:6379 (see /work/shared/TOOLCHAIN.md)")
    yield client
    client.close()


@pytest.fixture
def key(r):
    k = f"agora:test-lease:{uuid.uuid4().hex}"
    yield k
    r.delete(k)


class _Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_extend_reports_a_lease_taken_over(r, key):
    with JobLease(r, key, ttl_s=30) as lease:
        assert lease.extend() and not lease.lost
        r.set(key, "someone-else")  # our TTL ran out and another worker took it
        assert lease.extend() is False
        with pytest.raises(LeaseLost, match=key):
            lease.check()
    assert r.get(key) == b"someone-else"  # leaving never deletes the new holder's lease


def test_a_lease_that_expired_is_lost_not_silently_retaken(r, key):
    with JobLease(r, key, ttl_s=30) as lease:
        r.delete(key)  # expired while the refresher was starved
        assert lease.extend() is False and lease.lost
        assert r.get(key) is None  # the refresh did not re-create it


def test_redis_unreachable_for_a_whole_ttl_counts_as_lost(r, key):
    clock = _Clock()
    lease = JobLease(r, key, ttl_s=5, clock=clock)
    lease.__enter__()
    try:
        lease.client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
        clock.t += 2
        assert lease.extend() and not lease.lost  # a blip is tolerated
        clock.t += 3.5
        assert not lease.extend()
        with pytest.raises(LeaseLost):
            lease.check()
    finally:
        lease.client = r
        lease.__exit__(None, None, None)


def test_refresher_thread_notices_the_loss(r, key):
    with JobLease(r, key, ttl_s=1) as lease:  # refreshes every 1/3 s
        r.set(key, "someone-else")
        assert lease._thread is not None
        lease._thread.join(timeout=30)  # the refresher ends once it has seen the loss
        assert not lease._thread.is_alive()
        assert lease.lost


def test_lost_lease_is_busy_for_the_task_retry():
    assert issubclass(LeaseLost, LeaseBusy)  # celery_app retries a LeaseBusy later instead of failing the job


class _Api:
    def __init__(self) -> None:
        self.points: list[tuple[int, float]] = []

    def report_progress_batch(self, job_id, points, evals):
        self.points.extend(points)
        return {}

    def upload_artifact(self, data, kind="blob"):
        return "sha256:" + "0" * 64


def test_runner_stops_training_when_its_lease_is_lost(r, key, tmp_path):
    # Before: the runner never looked at the lease, so the old holder trained (and submitted) beside the new one.
    spec = parse_spec(SPEC)
    interp = Interpreter(spec)
    api = _Api()
    runner = JobRunner.__new__(JobRunner)
    runner.ctx = types.SimpleNamespace(api=api, market=None)  # no chain: no liveness heartbeats
    runner.settings = types.SimpleNamespace(progress_every=1)
    ws = JobWorkspace(tmp_path, "m", 1)
    m = Manifest(chain_job_id=1)
    with JobLease(r, key, ttl_s=30) as lease:
        r.set(key, "someone-else")
        lease.extend()
        with pytest.raises(LeaseLost):
            runner._train(1, ws, m, interp, 0, interp.initial_state(), lease)
    assert sorted(m.checkpoints) == [0]  # stopped at the first step: no checkpoint past the initial state
    assert all(step <= 1 for step, _ in api.points)

"""The whole marketplace loop through the real processes (tests/integration/test_worker_stack.py): anvil,
Postgres, Redis, the coordinator (API, indexer, matcher), a real Celery provider worker (`python -m worker`), a
verifier and a referee (`python -m verifier …`).

1. An honest job: matched, accepted, trained, checkpointed, submitted, re-run by the verifier (agrees),
   finalized by the worker after the challenge window: provider paid to the wei, the model downloadable by the
   client and hashing to the on-chain finalModelHash.
2. A job whose run crashes mid-way is resumed from its last checkpoint by the next delivery of its task and
   commits exactly the trace an uninterrupted run would.

Each test stands on its own (stakes what it needs, stops what it starts, even when it fails) and waits on
conditions, never on how fast this machine is: how many progress points arrive depends on load (the reporter
batches, and thins what piles up), so only their shape is asserted.
"""

from __future__ import annotations

import pytest

from chain.job_market import JobMarket, JobStatus
from chain.stake_manager import StakeManager
from verde.checkpoint import load_state
from verde.tensorhash import params_hash

try:
    from test_worker_stack import (
        CHALLENGE_WINDOW_S,
        PRICE,
        SPEC,
        Stack,
        ensure_staked,
        job_status,
        post_job,
        stack,
        start_worker,
    )
except ImportError:  # collected as a package module
    from tests.integration.test_worker_stack import (  # type: ignore[no-redef]
        CHALLENGE_WINDOW_S,
        PRICE,
        SPEC,
        Stack,
        ensure_staked,
        job_status,
        post_job,
        stack,
        start_worker,
    )

pytestmark = [pytest.mark.integration]
__all__ = ["stack"]


def test_honest_job_is_trained_submitted_verified_and_paid(stack: Stack):
    a = stack.anvil.accounts
    provider, client = a[3], a[2]
    ensure_staked(stack, provider)
    stake = StakeManager.connect(stack.deployment, stack.anvil.rpc_url, a[9].private_key)
    market = JobMarket.connect(stack.deployment, stack.anvil.rpc_url, a[9].private_key)
    credit_before = stake.credit_of(provider.address)
    start_worker(stack, provider, "worker-honest", stake=False)
    try:
        api, job_id = post_job(stack, client, SPEC)
        stack.wait("job submitted", lambda: job_status(api, job_id) in ("submitted", "finalized"),
                   timeout_s=300, describe=lambda: (api.job(job_id), api.events(job_id)))
        cid = int(api.job(job_id)["chain_job_id"])
        # Progress arrives in batches that race the submit; wait for the last step rather than expect it.
        stack.wait("progress to the last step", lambda: api.progress(job_id)["latest_step"] == SPEC["steps"],
                   timeout_s=60, describe=lambda: api.progress(job_id))
        steps = [p["step"] for p in api.progress(job_id)["points"]]
        assert steps and steps == sorted(set(steps)) and steps[-1] == SPEC["steps"]

        stack.wait("job finalized", lambda: job_status(api, job_id) == "finalized",
                   timeout_s=CHALLENGE_WINDOW_S + 300)
        assert market.status(cid) == JobStatus.FINALIZED
        fee = PRICE * market.params().protocol_fee_bps // 10_000
        assert stake.credit_of(provider.address) - credit_before == PRICE - fee  # paid to the wei

        result = api.result(job_id)
        model = load_state(api.model_bytes(job_id)).state
        assert "0x" + params_hash(model).hex() == result["final_model_hash"]  # the model is what was committed
        stack.wait("the verifier's verdict", lambda: "agrees" in stack.log("verifier", 100_000), timeout_s=120)
    finally:
        stack.stop("worker-honest")


class CrashAt:
    """Wraps the worker's coordinator client: uploading checkpoint number `nth` (0-based) raises, as a killed
    process would stop; records every progress step reported."""

    def __init__(self, api, nth: int) -> None:
        self._api, self._nth, self._uploads, self.reported = api, nth, 0, []

    def __getattr__(self, name):
        return getattr(self._api, name)

    def upload_artifact(self, data: bytes, kind: str = "blob") -> str:
        if kind == "checkpoint":
            if self._uploads == self._nth:
                raise RuntimeError(f"simulated crash at checkpoint upload {self._nth}")
            self._uploads += 1
        return self._api.upload_artifact(data, kind)

    def report_progress_batch(self, job_id: int, points, evals=None):
        self.reported.extend(step for step, _ in points)
        return self._api.report_progress_batch(job_id, points, evals)


def test_interrupted_run_resumes_from_its_last_checkpoint(stack: Stack, tmp_path):
    """Two deliveries of one task: the first dies storing checkpoint 30, the second resumes from checkpoint 20."""
    from verde.runner import run_spec
    from worker.bootstrap import WorkerContext
    from worker.runner import JobRunner
    from worker.settings import WorkerSettings

    a = stack.anvil.accounts
    provider, client = a[3], a[2]
    ensure_staked(stack, provider)  # whether or not another test staked it
    # No worker process of this provider may consume its queue here: this test drives the runner by hand.
    stack.wait("no worker process of the provider", lambda: not any(
        n.startswith("worker") and p.poll() is None for n, p in stack.procs.items()), timeout_s=30)
    settings = WorkerSettings(private_key=provider.private_key, coordinator_url=stack.coordinator_url,
                              rpc_url=stack.anvil.rpc_url, deployment_file=stack.deployment.path,
                              broker_url=stack.env["AGORA_BROKER_URL"], workspace=tmp_path, progress_every=1)
    ctx = WorkerContext(settings)
    ctx.api.heartbeat(["cpu"], 10**6, 0, "1")  # alive for the matcher (no worker process consumes its queue)
    spec = {**SPEC, "seed": 21}
    api, job_id = post_job(stack, client, spec)
    stack.wait("job assigned", lambda: api.job(job_id)["status"] == "assigned", timeout_s=180,
               describe=lambda: (api.job(job_id), api.events(job_id)))
    assert str(api.job(job_id)["provider"]).lower() == provider.address.lower()

    crashing = CrashAt(ctx.api, 3)  # checkpoints 0, 10, 20 stored; dies on 30
    ctx.__dict__["api"] = crashing
    with pytest.raises(RuntimeError, match="simulated crash"):
        JobRunner(ctx).run(job_id)
    cid = int(api.job(job_id)["chain_job_id"])
    assert ctx.market.status(cid) == JobStatus.RUNNING  # accepted, not submitted
    assert sorted(ctx.workspace(cid).manifest().checkpoints) == [0, 10, 20]

    resumed = CrashAt(crashing._api, -1)
    ctx.__dict__["api"] = resumed
    outcome = JobRunner(ctx).run(job_id)
    assert outcome.action == "resumed+submitted"
    assert resumed.reported[0] == 21  # started after checkpoint 20, not from scratch
    honest = run_spec(spec)
    assert outcome.trace_root == "0x" + honest.trace_root.hex()  # the resumed run commits the same trace
    assert ctx.market.status(cid) == JobStatus.SUBMITTED
    assert JobRunner(ctx).run(job_id).action == "already-submitted"  # a third delivery is a no-op

"""An honest provider on a devnet: paid to the wei, the model matches the chain, and a worker killed mid-job or a
coordinator restarted mid-run loses nothing and pays nothing twice (issue 6, e2e (a), (e), (f))."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import Devnet, agora, small_spec

pytestmark = pytest.mark.e2e
PRICE = 10**16  # 0.01 ether


# No cheater here, so nothing needs the verifier to challenge in time: every job just waits the window out
# before it is finalized (the devnet's default is 20 s).
CHALLENGE_WINDOW_S = 10


@pytest.fixture(scope="module")
def dn(devnet_factory) -> Devnet:  # type: ignore[no-untyped-def]
    return devnet_factory("--workers", "1", "--clock", f"challenge-window={CHALLENGE_WINDOW_S}")


def _fee(dn: Devnet) -> int:
    return PRICE * dn.ledger.market.params().protocol_fee_bps // 10_000


def _count(events: list[dict], kind: str) -> int:
    return sum(1 for e in events if e["kind"] == kind)


def _assert_paid_once(dn: Devnet, job_id: int, before) -> None:  # type: ignore[no-untyped-def]
    net = dn.ledger.net_changes(before, dn.ledger.snapshot())
    fee = _fee(dn)
    assert net["worker-1"] == PRICE - fee, f"provider got {net['worker-1']} wei, expected {PRICE - fee}"
    assert net["client"] == -PRICE
    assert net["treasury"] == fee
    events = dn.events(job_id)
    for kind in ("JobPosted", "JobAccepted", "ResultSubmitted", "JobFinalized"):
        assert _count(events, kind) == 1, f"{kind} seen {_count(events, kind)} times"


def test_honest_job_is_paid_to_the_wei_and_its_model_matches_the_chain(dn: Devnet, tmp_path: Path) -> None:
    before = dn.ledger.snapshot()
    job_id = dn.submit(small_spec(steps=30, seed=11))
    job = dn.wait_status(job_id, {"finalized", "failed", "disputed"}, timeout_s=150)
    assert job["status"] == "finalized", dn.logs_tail()
    _assert_paid_once(dn, job_id, before)
    assert dn.net_changes()["verifier"] == 0  # re-ran it, agreed, spent only gas

    out = tmp_path / "model.pt"
    proc = agora(["jobs", "download", str(job_id), "-o", str(out)], dn.root)
    assert "matches the on-chain finalModelHash" in proc.stdout
    from agora.commands.jobs import model_hash

    on_chain = dn.ledger.market.result(int(job["chain_job_id"])).final_model_hash
    assert model_hash(out.read_bytes()) == "0x" + on_chain.hex()


def _consuming(log: str) -> bool:
    """Celery logs "<hostname> ready." once its consumer is connected to the broker, after our "consuming queue"."""
    at = log.find("consuming queue")
    return at >= 0 and " ready." in log[at:]


def test_worker_killed_mid_job_is_completed_by_another_worker_without_double_payment(dn: Devnet) -> None:
    # A second worker process of the same provider (same queue, same workspace), as a provider scales out.
    sup = dn.net.supervisor
    sup.start_like("worker-1", "worker-1b")
    deadline = time.monotonic() + 120
    while not _consuming(dn.log("worker-1b")) and time.monotonic() < deadline:
        assert sup.state("worker-1b") == "running", dn.log("worker-1b")
        time.sleep(0.2)
    assert _consuming(dn.log("worker-1b")), dn.log("worker-1b")
    before = dn.ledger.snapshot()
    freezer = dn.freezer(("worker-1", "worker-1b"))
    job_id = dn.submit(small_spec(steps=300, seed=12, checkpoint_every=100))
    runner = freezer.wait(job_id, timeout_s=120)  # frozen just after its accept, then killed mid-training
    other = "worker-1b" if runner == "worker-1" else "worker-1"
    step_at_kill = dn.api.progress(job_id).get("latest_step")
    assert sup.kill(runner) and sup.state(runner) == "exited"
    job = dn.wait_status(job_id, {"finalized", "failed", "disputed"}, timeout_s=240)
    assert job["status"] == "finalized", dn.logs_tail()
    assert f"job {job_id} (chain" in dn.log(other).split("consuming queue", 1)[-1], "the other worker never ran it"
    print(f"{runner} SIGKILLed at step {step_at_kill}; job {job_id} finalized by {other}")
    _assert_paid_once(dn, job_id, before)
    agora(["devnet", "restart", runner], dn.root)  # back to full strength for the next test


def test_coordinator_restarted_mid_run_loses_and_duplicates_nothing(dn: Devnet) -> None:
    before = dn.ledger.snapshot()
    # The worker is held just after it accepted, so the coordinator goes away while it trains (its progress
    # reports are refused meanwhile) however fast the machine trains.
    freezer = dn.freezer(("worker-1", "worker-1b"))
    job_id = dn.submit(small_spec(steps=300, seed=13, checkpoint_every=100))
    runner = freezer.wait(job_id, timeout_s=120)
    dn.wait_job(job_id, lambda j: j["status"] == "running", timeout_s=120, what="running")
    events_before = {e["id"] for e in dn.events(job_id)}
    for name in ("coordinator-api", "coordinator-indexer", "coordinator-matcher"):
        if dn.net.supervisor.record(name) is not None:
            dn.net.supervisor.signal(name, signal.SIGKILL)
    dn.net.supervisor.signal(runner, signal.SIGCONT)
    time.sleep(1)
    for name in ("coordinator-api", "coordinator-indexer", "coordinator-matcher"):
        if dn.net.supervisor.record(name) is not None:
            agora(["devnet", "restart", name], dn.root)
    job = dn.wait_status(job_id, {"finalized", "failed", "disputed"}, timeout_s=240)
    assert job["status"] == "finalized", dn.logs_tail()
    _assert_paid_once(dn, job_id, before)
    events = dn.events(job_id)
    assert events_before <= {e["id"] for e in events}, "events recorded before the restart were lost"
    steps = [p["step"] for p in dn.api.progress(job_id)["points"]]
    assert len(steps) == len(set(steps)) and steps == sorted(steps), "progress duplicated or out of order"

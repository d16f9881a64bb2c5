"""The faults a production marketplace meets, on one stack of real processes (tests/integration/
test_worker_stack.py) — anvil behind a TCP proxy the test can cut, a Redis server and a Postgres cluster of the
stack's own that it can restart (tests/services.py; the machine's own services are never touched). After each
fault: nothing lost, nothing paid twice, every wei accounted for (tests/e2e/fault_checks.py).

1. A worker SIGKILLed during submit — after its submitResult reached the node, before it saw the receipt —
   and started again: the result is on-chain exactly once. Its RPC goes through a tap that relays that one
   transaction, kills the worker's process group and never answers.
2. Redis restarted mid-run, keeping nothing (no persistence): queued tasks and job leases are gone. The
   running worker finds its lease lost, stops, and the job comes back through the task's retry.
3. Postgres restarted mid-run: the API answers 503 (database unavailable) meanwhile, never 500.
4. The RPC node away for 30 s mid-training, then 30 s mid-dispute (anvil keeps its state and keeps mining, as
   a live chain would): every service resumes on its own. Move deadlines are longer than the outage, so a
   loss by timeout could only come from a service that gave up (or blocked in retries) instead of resuming.

"Mid-training" is made certain rather than likely: the worker is frozen (SIGSTOP) the moment its log says it
accepted the job, the fault begins, and only then is the worker let go (SIGCONT) to train on into it. (Waiting
for a progress report instead lost the race on an idle machine: a 300-step job trains in half a second, and the
fault landed after the submit.)

One stack for all of them keeps the suite short; each test uses its own accounts or waits for the previous
job to be finalized, and stops the workers it started, so none depends on another's leftovers.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable

import httpx
import pytest
from eth_utils import function_abi_to_4byte_selector

from chain import artifacts
from chain.dispute_game import DisputeGame, GameOutcome
from chain.job_market import JobMarket, JobStatus
from chain.stake_manager import StakeManager
from tests.e2e.fault_checks import assert_paid_once, chain_events
from tests.integration.test_worker_stack import (
    PRICE,
    SPEC,
    Stack,
    ensure_staked,
    post_job,
    stack,
    start_worker,
)
from tests.services import RpcTap, Tripwire, log_since_now

pytestmark = pytest.mark.e2e
__all__ = ["stack"]

RPC_PROXY = True
OWN_POSTGRES = True
MOVE_TIMEOUT_S = 120  # longer than the RPC outage: nobody may lose a move by timeout because of it
# Only the dispute test needs a challenge inside the window (its cheat is re-run and challenged in about a
# second on a loaded machine); every other job waits the window out before it is finalized, so keep it short.
CHALLENGE_WINDOW_S = 10
OUTAGE_S = 30


def _credit(stack: Stack, address: str) -> int:
    return StakeManager.connect(stack.deployment, stack.anvil.rpc_url, stack.anvil.accounts[9].private_key) \
        .credit_of(address)


def _status(api, job_id: int) -> str | None:  # type: ignore[no-untyped-def]
    try:
        return str(api.job(job_id)["status"])
    except Exception:  # noqa: BLE001 - the API answers 503 for a moment after a restart
        return None


def _all_alive(stack: Stack) -> None:
    dead = {n: p.returncode for n, p in stack.procs.items() if p.poll() is not None}
    assert not dead, f"services died during the fault: {dead}\n{stack.all_logs()}"


class _Freeze:
    """Watches worker `name`'s log from now on and freezes the worker (SIGSTOP to its process group) the moment it
    logs that it accepted a job: it trains right after, so a fault begun while it is frozen strikes mid-training
    however fast the machine trains (tests.services.Tripwire). Start it before posting the job. `thaw()` (SIGCONT)
    lets the worker carry on into the fault; idempotent."""

    _ACCEPTED = re.compile(r"job (\d+) \(chain \d+\): (accepted|resuming)")

    def __init__(self, stack: Stack, name: str) -> None:
        self.stack, self.name = stack, name
        self.proc = stack.procs[name]
        self._new = log_since_now(lambda: stack.log(name, tail=10**8))
        self._thawed = False
        self.frozen_at = 0.0

        def accepted() -> int | None:
            m = self._ACCEPTED.search(self._new())
            return int(m.group(1)) if m else None

        self._wire = Tripwire(accepted, self._freeze)

    def _freeze(self, _job: int) -> None:
        os.killpg(self.proc.pid, signal.SIGSTOP)
        self.frozen_at = time.monotonic()

    def wait(self, job_id: int, timeout_s: float) -> None:
        accepted = self._wire.wait(timeout_s)
        if accepted is None:
            raise AssertionError(f"{self.name} did not accept job {job_id} within {timeout_s}s\n"
                                 f"{self.stack.all_logs()}")
        assert accepted == job_id, f"{self.name} accepted job {accepted}, not {job_id}"
        trained = re.search(rf"job {job_id} \(chain \d+\): trained", self._new())
        # Not an assertion (it would depend on timing): a worker that raced through the whole job before its
        # accept was seen meets the fault after training, as a slower machine's would not.
        print(f"{self.name} frozen {'after' if trained else 'mid-'}training for job {job_id}")

    def thaw(self) -> None:
        self._wire.wait(0)  # no freeze after the thaw
        if not self._thawed:
            self._thawed = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGCONT)


def _run_through(stack: Stack, provider, client, seed: int, fault, steps: int = 300) -> None:  # type: ignore[no-untyped-def]
    """A job trained by a fresh worker of `provider`; `fault(freeze)` strikes mid-training (it begins while the
    worker is frozen just after accepting, and thaws it); then paid once."""
    a = stack.anvil.accounts
    ensure_staked(stack, provider)
    credit_before = _credit(stack, provider.address)
    name = f"worker-{seed}"
    start_worker(stack, provider, name, stake=False)
    freeze: _Freeze | None = None
    try:
        freeze = _Freeze(stack, name)
        api, job_id = post_job(stack, client, {**SPEC, "steps": steps, "checkpoint_every": 50, "seed": seed})
        freeze.wait(job_id, timeout_s=240)
        fault(freeze)
        freeze.thaw()
        _all_alive(stack)
        stack.wait("job finalized after the fault", lambda: _status(api, job_id) == "finalized", timeout_s=600,
                   describe=lambda: (api.job(job_id), api.events(job_id)))
        cid = int(api.job(job_id)["chain_job_id"])
        assert_paid_once(stack, a[9].private_key, provider.address, cid, credit_before, PRICE)
    finally:
        if freeze is not None:
            freeze.thaw()
        stack.stop(name)


def _outage(stack: Stack, then: Callable[[], None] = lambda: None) -> None:
    assert stack.proxy is not None
    stack.proxy.cut()
    then()
    time.sleep(OUTAGE_S)
    stack.proxy.restore()


# ---------------------------------------------------------------- 1. killed between send and receipt

def test_worker_killed_between_send_and_receipt_submits_once(stack: Stack):
    a = stack.anvil.accounts
    provider, client = a[3], a[2]
    ensure_staked(stack, provider)
    credit_before = _credit(stack, provider.address)
    fn = next(e for e in artifacts.load("JobMarket").abi if e.get("type") == "function"
              and e["name"] == "submitResult")
    submit = bytes(function_abi_to_4byte_selector(fn))  # type: ignore[arg-type]  # expands the struct argument
    name = "worker-submit"

    def spawn(rpc: str) -> None:
        key_file = stack.logs.parent / f"{name}.key"
        key_file.write_text(provider.private_key + "\n")
        stack.spawn(name, [sys.executable, "-m", "worker", "--key-file", str(key_file), "--hostname",
                           f"{name}@%h"], {"AGORA_RPC_URL": rpc})

    def kill_worker() -> None:
        proc = stack.procs.get(name)
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)

    tap: RpcTap = RpcTap(stack.anvil.rpc_url, on_send=lambda data: data[:4] == submit and tap.fired == 0,
                 then=kill_worker).start()
    try:
        spawn(tap.url)
        api, job_id = post_job(stack, client, {**SPEC, "seed": 51})
        stack.wait("the submit sent and the worker killed",
                   lambda: tap.fired == 1 and stack.procs[name].poll() is not None, timeout_s=300,
                   describe=lambda: (api.job(job_id), api.events(job_id)))
        stack.procs.pop(name)
        spawn(stack.proxy.url if stack.proxy else stack.anvil.rpc_url)  # back, without the tap this time
        stack.wait("job finalized", lambda: _status(api, job_id) == "finalized", timeout_s=600,
                   describe=lambda: (api.job(job_id), api.events(job_id)))
        cid = int(api.job(job_id)["chain_job_id"])
        assert_paid_once(stack, a[9].private_key, provider.address, cid, credit_before, PRICE)
    finally:
        stack.stop(name)
        tap.close()


# ---------------------------------------------------------------- 2, 3. Redis and Postgres restarted

def test_redis_restarted_mid_run(stack: Stack):
    a = stack.anvil.accounts
    redis_server = stack.redis
    assert redis_server is not None
    lease_ttl_s = float(stack.env["AGORA_LEASE_TTL_S"])

    def restart(freeze: _Freeze) -> None:
        redis_server.restart(down_s=3)
        # Still frozen for one whole lease TTL: no refresh of its lease was confirmed meanwhile, and the key is
        # gone with Redis's data, so the worker's next check between steps finds the lease lost (a thawed worker
        # that finished its half-second of training first would submit before it noticed).
        time.sleep(max(0.0, lease_ttl_s + 1 - (time.monotonic() - freeze.frozen_at)))
        freeze.thaw()

    _run_through(stack, a[3], a[2], 41, restart)


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

    def restart(freeze: _Freeze) -> None:
        t = threading.Thread(target=probe, daemon=True)
        t.start()
        stack.pg.stop()  # type: ignore[union-attr]
        freeze.thaw()  # the worker trains on, its progress and checkpoints refused while the database is away
        time.sleep(5)
        stack.pg.start()  # type: ignore[union-attr]
        back = len(seen)
        # the probe goes on until the API answers from the restarted database again
        stack.wait("the API answering again after the restart", lambda: 200 in seen[back:], timeout_s=60,
                   describe=lambda: sorted(set(seen)))
        stop.set()
        t.join(timeout=30)

    _run_through(stack, a[3], a[2], 42, restart)
    assert 500 not in seen, seen
    assert 503 in seen, f"the API never noticed the database was away: {sorted(set(seen))}"


# ---------------------------------------------------------------- 4. the RPC node away for 30 s

def test_rpc_away_mid_training(stack: Stack):
    a = stack.anvil.accounts
    def outage(freeze: _Freeze) -> None:
        _outage(stack, then=freeze.thaw)  # the worker trains on with the node gone (its beats and submit fail)

    _run_through(stack, a[3], a[2], 31, outage, steps=400)


def test_rpc_away_mid_dispute(stack: Stack):
    a = stack.anvil.accounts
    cheat, client = a[6], a[7]
    market = JobMarket.connect(stack.deployment, stack.anvil.rpc_url, a[9].private_key)
    game = DisputeGame.connect(stack.deployment, stack.anvil.rpc_url, a[9].private_key)
    client_credit = market.credit_of(client.address)
    ensure_staked(stack, cheat)
    start_worker(stack, cheat, "worker-cheat", fault="perturb-step=17", stake=False)
    try:
        api, job_id = post_job(stack, client, {**SPEC, "seed": 32})

        def disputed() -> bool:
            cid = api.job(job_id)["chain_job_id"]
            return cid is not None and market.status(int(cid)) == JobStatus.DISPUTED

        stack.wait("job disputed", disputed, timeout_s=300, describe=lambda: (api.job(job_id), api.events(job_id)))
        cid = int(api.job(job_id)["chain_job_id"])
        gid = next(g for g in range(game.game_count(), 0, -1) if game.state(g).job_id == cid)
        _outage(stack)
        _all_alive(stack)
        stack.wait("game settled after the outage", lambda: game.state(gid).settled, timeout_s=600,
                   describe=lambda: (game.state(gid), api.events(job_id)))
        assert game.state(gid).outcome == GameOutcome.CHALLENGER_WINS, stack.all_logs()
        assert market.status(cid) == JobStatus.FAILED
        assert market.credit_of(client.address) - client_credit == PRICE  # refunded once, to the wei
        assert len(chain_events(stack, "ResultSubmitted", cid)) == 1
    finally:
        stack.stop("worker-cheat")

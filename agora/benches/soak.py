"""`agora bench soak`: many tiny jobs through a whole devnet while processes are SIGKILLed and restarted.

A devnet of its own (anvil, coordinator API / indexer / matcher, N workers of which one is faulty, a
verifier, a referee) in a temporary folder. The client posts `jobs` tiny jobs (a few SGD steps of a small
MLP, every one re-run by the verifier) at a steady pace; every `kill_every_s` seconds (±25 %) a randomly
chosen service other than anvil is SIGKILLed and started again. At the end every job must be settled
(finalized, failed or refunded) and the wei ledger must balance: every wei that entered the contracts is in
some party's wallet, credit or stake (Ledger.unaccounted), and the contracts hold nothing that nobody can
claim (Ledger.liabilities_gap) — `wei_discrepancy` is the sum of both, 0 when nothing was lost or paid twice.

The last line is JSON: {"bench": "soak", "jobs", "settled", "kills", "p50_s", "p99_s", "wei_discrepancy", …};
p50/p99 are seconds from a job's escrow to its settlement as the coordinator reports it.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SETTLED = {"finalized", "failed", "cancelled", "expired"}
PRICE_WEI = 10**15


def tiny_spec(seed: int, steps: int) -> dict[str, Any]:
    return {
        "version": 1,
        "model": {"kind": "mlp", "layers": [64, 8, 10], "activation": "relu"},
        "dataset": {"id": "builtin:digits", "batch_size": 16, "shuffle_seed": 3},
        "loss": "cross_entropy",
        "optimizer": {"kind": "sgd", "lr": 0.1},
        "steps": steps,
        "seed": seed,
        "checkpoint_every": max(1, steps // 2),
        "verification": {"replicas": 1, "spot_check": 1.0},
    }


@dataclass
class _Chaos:
    """Kills a random service every ~`every_s` and restarts it; counts what it did."""

    supervisor: Any
    names: list[str]
    every_s: float
    rng: random.Random
    kills: int = 0
    log: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.wait(self.every_s * self.rng.uniform(0.75, 1.25)):
            name = self.rng.choice(self.names)
            if not self.supervisor.kill(name):
                continue
            self.kills += 1
            self.log.append(f"{time.strftime('%H:%M:%S')} SIGKILL {name}")
            time.sleep(self.rng.uniform(0.5, 2.0))
            try:
                self.supervisor.restart(name)
            except Exception as exc:  # noqa: BLE001 - try again at the next round; reported at the end
                self.log.append(f"restart {name} failed: {exc}")


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(jobs: int = 200, workers: int = 4, fault: str = "perturb-step=2", kill_every_s: float = 20.0,
        steps: int = 4, submit_every_s: float = 0.5, timeout_s: float = 3600.0, seed: int = 1,
        root: Path | None = None) -> dict[str, Any]:
    from agora.devnet.ledger import Ledger
    from agora.devnet.network import Devnet, DevnetOptions
    from chain.sender import Sender, make_web3
    from client.api import CoordinatorClient

    rng = random.Random(seed)
    tmp = None
    if root is None:
        tmp = tempfile.TemporaryDirectory(prefix="agora-soak-")
        root = Path(tmp.name)
    net = Devnet(root)
    t_start = time.monotonic()
    _say(f"soak: devnet in {root}: {workers} workers (worker-1 {fault}), a verifier, a referee")
    state = net.up(DevnetOptions(workers=workers, faulty_workers=[fault] if fault else [], fast_clocks=True,
                                 ready_timeout_s=300), report=_say)
    chaos: _Chaos | None = None
    chaos_thread: threading.Thread | None = None
    try:
        ledger = Ledger.for_devnet(state)
        before = ledger.snapshot()
        client_key = Path(state.accounts["client"].key_file).read_text().strip()
        api = CoordinatorClient(state.coordinator, client_key, retries=8, timeout_s=30.0)
        sender = Sender(make_web3(state.rpc), client_key)
        victims = [n for n in state.services if n != "anvil"]
        chaos = _Chaos(net.supervisor, victims, kill_every_s, rng)
        chaos_thread = threading.Thread(target=chaos.run, name="soak-chaos", daemon=True)
        chaos_thread.start()

        posted: dict[int, float] = {}  # coordinator job id -> when its escrow was mined
        settled_at: dict[int, float] = {}
        status: dict[int, str] = {}
        deadline = time.monotonic() + timeout_s
        next_post = time.monotonic()
        last_report = 0.0
        while len(settled_at) < jobs and time.monotonic() < deadline:
            now = time.monotonic()
            if len(posted) < jobs and now >= next_post:
                try:
                    created = api.create_job(tiny_spec(seed * 100_000 + len(posted), steps), price_wei=PRICE_WEI,
                                             deadline_s=1800, collateral_wei=PRICE_WEI)
                    tx = created["transaction"]
                    sender.transact(tx["to"], bytes.fromhex(tx["data"].removeprefix("0x")), value=int(tx["value"]))
                    posted[int(created["job"]["id"])] = time.monotonic()
                except Exception as exc:  # noqa: BLE001 - the API may be the process just killed
                    _say(f"soak: posting job {len(posted) + 1} failed ({type(exc).__name__}: {exc}); again")
                next_post = now + submit_every_s
            try:
                for job_id in [j for j in posted if j not in settled_at]:
                    st = str(api.job(job_id)["status"])
                    status[job_id] = st
                    if st in SETTLED:
                        settled_at[job_id] = time.monotonic()
            except Exception as exc:  # noqa: BLE001 - the API is down for a moment
                _say(f"soak: polling failed ({type(exc).__name__}); again")
                time.sleep(1)
            if now - last_report > 30:
                last_report = now
                _say(f"soak: {time.monotonic() - t_start:.0f}s posted {len(posted)} settled {len(settled_at)} "
                     f"kills {chaos.kills}")
            time.sleep(0.5 if len(posted) >= jobs else 0.05)
        chaos.stop.set()

        # Every job has ended; let the last games and credits land, then count every wei.
        wei_discrepancy = None
        after = ledger.snapshot()
        settle_by = time.monotonic() + 180
        while True:
            after = ledger.snapshot()
            gap = ledger.liabilities_gap(after)
            if gap == 0 or time.monotonic() > settle_by or len(settled_at) < jobs:
                break
            time.sleep(2)
        wei_discrepancy = abs(ledger.unaccounted(before, after)) + abs(ledger.liabilities_gap(after))
        latencies = sorted(settled_at[j] - posted[j] for j in settled_at)
        outcomes: dict[str, int] = {}
        for j in posted:
            outcomes[status.get(j, "unknown")] = outcomes.get(status.get(j, "unknown"), 0) + 1
        for line in chaos.log:
            _say(f"soak: {line}")
        result = {
            "bench": "soak",
            "jobs": jobs,
            "settled": len(settled_at),
            "kills": chaos.kills,
            "p50_s": round(statistics.median(latencies), 2) if latencies else None,
            "p99_s": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 2) if latencies else None,
            "wei_discrepancy": wei_discrepancy,
        }
        print(f"soak: {workers} workers (worker-1 {fault}), {jobs} jobs of {steps} steps, a kill every "
              f"~{kill_every_s:g}s, {time.monotonic() - t_start:.0f}s wall")
        print(f"soak: {result['settled']}/{jobs} settled {outcomes}; {chaos.kills} kills; "
              f"escrow-to-settlement p50 {result['p50_s']}s p99 {result['p99_s']}s; wei discrepancy {wei_discrepancy}")
        return result
    finally:
        if chaos is not None:
            chaos.stop.set()
        if chaos_thread is not None:
            # A restart in progress must finish before `down`, or it would start a service nobody stops.
            chaos_thread.join(timeout=60)
        net.down(quiet=True)
        if tmp is not None:
            tmp.cleanup()

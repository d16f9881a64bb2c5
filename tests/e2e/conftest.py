"""The whole marketplace on a devnet for end-to-end tests: `agora devnet up` (real anvil, Redis, coordinator,
Celery workers, verifier, referee) in a temporary folder, one devnet per test module, `down` at the end.

Every module's devnet also checks conservation when it goes down: every wei that entered the contracts during
the module is in some party's holdings, or the test fails.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from client.api import CoordinatorUnavailable
from tests.services import Tripwire, log_since_now

REPO = Path(__file__).resolve().parents[2]
AGORA = [str(Path(sys.executable).parent / "agora")]  # the installed console script, as a user runs it
TERMINAL = {"finalized", "failed", "cancelled", "expired"}

pytestmark = pytest.mark.e2e


def small_spec(steps: int = 30, seed: int = 1, checkpoint_every: int = 10) -> dict[str, Any]:
    """An MLP [64, 16, 10] on builtin digits: a couple of seconds of training, re-run by every verifier."""
    return {
        "version": 1,
        "model": {"kind": "mlp", "layers": [64, 16, 10], "activation": "relu"},
        "dataset": {"id": "builtin:digits", "batch_size": 32, "shuffle_seed": 7},
        "loss": "cross_entropy",
        "optimizer": {"kind": "adam", "lr": 0.01},
        "steps": steps,
        "seed": seed,
        "checkpoint_every": checkpoint_every,
        "verification": {"replicas": 1, "spot_check": 1.0},
    }


def agora(args: list[str], root: Path, *, check: bool = True, timeout: float = 300,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Runs the real `agora` command against the devnet rooted at `root`."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AGORA_")}
    full_env["AGORA_DEVNET_DIR"] = str(root)
    full_env.update(env or {})
    proc = subprocess.run([*AGORA, *args], check=False, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=REPO)
    if check and proc.returncode != 0:
        raise AssertionError(f"agora {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@dataclass
class Devnet:
    """A running devnet seen from a test: its state, a REST client as the devnet's client, its ledger."""

    root: Path
    status: dict[str, Any]
    before: Any = None
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        from agora.devnet.ledger import Ledger
        from agora.devnet.network import Devnet as Net
        from agora.devnet.state import DevnetState
        from client.api import CoordinatorClient

        self.net = Net(self.root)
        state = DevnetState.load(self.root)
        assert state is not None
        self.state = state
        self.ledger = Ledger.for_devnet(state)
        key = Path(state.accounts["client"].key_file).read_text().strip()
        self.api = CoordinatorClient(state.coordinator, key)
        self.before = self.ledger.snapshot()

    # ------------------------------------------------------------------ helpers
    def address(self, name: str) -> str:
        return self.state.accounts[name].address

    def name_of(self, address: str | None) -> str | None:
        for n, a in self.state.accounts.items():
            if address and a.address.lower() == address.lower():
                return n
        return None

    def submit(self, spec: dict[str, Any], price: str = "0.01ether", tmp: Path | None = None) -> int:
        path = (tmp or self.root) / f"spec-{time.monotonic_ns()}.json"
        path.write_text(json.dumps(spec))
        out = agora(["jobs", "submit", str(path), "--price", price, "--json"], self.root)
        return int(json.loads(out.stdout)["job"]["id"])

    def wait_job(self, job_id: int, until: Callable[[dict[str, Any]], bool], timeout_s: float,
                 what: str = "") -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        job: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                job = self.api.job(job_id)
            except CoordinatorUnavailable:  # a coordinator a test restarts is away for a moment: keep waiting
                time.sleep(0.5)
                continue
            if until(job):
                return job
            time.sleep(0.5)
        raise AssertionError(f"job {job_id} did not reach {what or 'the expected state'} within {timeout_s}s: "
                             f"{job.get('status')}\n{self.logs_tail()}")

    def wait_status(self, job_id: int, statuses: set[str], timeout_s: float) -> dict[str, Any]:
        return self.wait_job(job_id, lambda j: j["status"] in statuses, timeout_s, what="/".join(sorted(statuses)))

    def wait_settled(self, job_id: int, timeout_s: float) -> dict[str, Any]:
        """The job's dispute once it is settled (outcome set)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            items = self.api.disputes(job_id=job_id)
            if items and items[0].get("outcome"):
                return self.api.dispute(items[0]["id"])
            time.sleep(0.5)
        raise AssertionError(f"no settled dispute for job {job_id} within {timeout_s}s\n{self.logs_tail()}")

    def events(self, job_id: int) -> list[dict[str, Any]]:
        return self.api.events(job_id)

    def logs_tail(self, lines: int = 12) -> str:
        out = []
        for name in self.net.supervisor.names():
            path = self.net.supervisor.log_file(name)
            try:
                text = path.read_text(errors="replace").rstrip().splitlines()[-lines:]
            except OSError:
                continue
            out.append(f"--- {name} ({self.net.supervisor.state(name)})\n" + "\n".join(text))
        return "\n".join(out)

    def log(self, name: str) -> str:
        return self.net.supervisor.log_file(name).read_text(errors="replace")

    def freezer(self, names: tuple[str, ...]) -> AcceptFreezer:
        """Started before a job is submitted: freezes the first of the worker services `names` to log an accept."""
        return AcceptFreezer(self, names)

    def net_changes(self, after: Any | None = None) -> dict[str, int]:
        return self.ledger.net_changes(self.before, after or self.ledger.snapshot())

    def assert_conserved(self) -> None:
        """Every wei that entered the contracts since the devnet came up is in some party's holdings."""
        after = self.ledger.snapshot()
        assert self.ledger.unaccounted(self.before, after) == 0, "wei entered or left the contracts unexplained"
        gap = self.ledger.liabilities_gap(after)
        in_flight = [j for j in self.api.jobs() if j["status"] not in TERMINAL]
        if not in_flight:
            assert gap == 0, f"contracts hold {gap} wei that no party can claim"
        print(f"conservation: contracts hold {sum(after.contracts.values())} wei, "
              f"{gap} in flight, 0 unaccounted")


class AcceptFreezer:
    """Watches the logs of worker services `names` from now on and freezes (SIGSTOP to its process group) the first
    one that logs "job N (chain M): accepted": it trains right after, so a kill or fault that follows strikes
    mid-training however fast the machine trains (tests.services.Tripwire). Start it before submitting the job.
    `wait(job_id)` returns the frozen worker's name."""

    _ACCEPTED = re.compile(r"job (\d+) \(chain \d+\): accepted")

    def __init__(self, dn: Devnet, names: tuple[str, ...]) -> None:
        import signal

        self.dn = dn
        self.names = names
        self._new = {n: log_since_now(lambda n=n: dn.log(n)) for n in names}  # only what is logged from now on

        def accepted() -> tuple[str, int] | None:
            for name in names:
                m = self._ACCEPTED.search(self._new[name]())
                if m:
                    return name, int(m.group(1))
            return None

        self._wire = Tripwire(accepted, lambda hit: dn.net.supervisor.signal(hit[0], signal.SIGSTOP))

    def wait(self, job_id: int, timeout_s: float) -> str:
        frozen = self._wire.wait(timeout_s)
        if frozen is None:
            raise AssertionError(f"no worker of {self.names} accepted job {job_id} within {timeout_s}s\n"
                                 f"{self.dn.logs_tail()}")
        name, accepted = frozen
        assert accepted == job_id, f"{name} accepted job {accepted}, not job {job_id}: another job was running"
        if re.search(rf"job {job_id} \(chain \d+\): trained", self._new[name]()):
            raise AssertionError(f"job {job_id} finished before it could be interrupted: make it longer")
        return name


def start_devnet(root: Path, *args: str) -> Devnet:
    proc = agora(["devnet", "up", "--json", *args], root, check=False, timeout=240)
    if proc.returncode != 0:
        agora(["devnet", "down"], root, check=False)
        raise AssertionError(f"agora devnet up {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return Devnet(root, json.loads(proc.stdout))


@pytest.fixture(scope="module")
def devnet_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Devnet]]:
    """`devnet_factory(*up_args)` → a Devnet for the module; stopped (with a conservation check) at its end."""
    started: list[Devnet] = []

    def make(*args: str) -> Devnet:
        dn = start_devnet(tmp_path_factory.mktemp("devnet"), *args)
        started.append(dn)
        return dn

    yield make
    for dn in started:
        try:
            dn.assert_conserved()
        finally:
            records = [r for n in dn.net.supervisor.names() if (r := dn.net.supervisor.record(n)) is not None]
            agora(["devnet", "down"], dn.root, check=False)
            # A down devnet leaves nothing of its own running.
            assert not [r.name for r in records if r.running]


def compute_seconds(log: str, pattern: str) -> list[float]:
    return [float(m) for m in re.findall(pattern, log)]

"""The real marketplace processes for worker/verifier integration tests (imported by test_worker_*.py and
test_verifier_*.py; holds no tests itself): anvil (mining a block a second, like a live chain), a fresh Postgres
database, a Redis server of its own, the coordinator's API, indexer and matcher, a verifier and a referee — each
a subprocess with its log in the test's temporary folder, dumped when a wait times out. Workers are started per
test.

The Redis server is the stack's own (tests/services.py), not a database number on the machine's: dev
accounts, and so queue names (provider.<address>) and lease keys, are the same in every stack, and another
test run on the same machine would otherwise consume this one's tasks or flush its leases.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chain.anvil import AnvilProcess, free_port
from chain.deploy import Deployment, DeployParams, deploy
from chain.stake_manager import StakeManager
from client.api import CoordinatorClient
from tests.services import (  # pytest's pythonpath has "."
    PostgresCluster,
    RedisServer,
    TcpProxy,
    machine_database,
)

ROOT = Path(__file__).resolve().parents[2]
ETHER = 10**18
PRICE = ETHER // 10
STAKE = 2 * ETHER
CHALLENGE_WINDOW_S = 12
SPEC = {
    "version": 1,
    "model": {"kind": "mlp", "layers": [64, 16, 10], "activation": "relu"},
    "dataset": {"id": "builtin:digits", "batch_size": 16, "shuffle_seed": 7},
    "loss": "cross_entropy",
    "optimizer": {"kind": "sgd", "lr": 0.1},
    "steps": 30,
    "seed": 11,
    "checkpoint_every": 10,
}


@dataclass
class Stack:
    anvil: AnvilProcess
    deployment: Deployment
    coordinator_url: str
    env: dict[str, str]
    logs: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    redis: RedisServer | None = None
    proxy: TcpProxy | None = None  # between every service and anvil, when the module sets RPC_PROXY
    pg: PostgresCluster | None = None  # the stack's own Postgres, when the module sets OWN_POSTGRES

    def spawn(self, name: str, cmd: list[str], extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        out = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**self.env, **(extra_env or {})}, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = proc
        return proc

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def stop_all(self, timeout_s: float = 10.0) -> None:
        """SIGTERM to every process at once, then waits for them together (SIGKILL after `timeout_s`): the
        services shut down side by side instead of one after another."""
        procs = [p for p in self.procs.values() if p.poll() is None]
        self.procs.clear()
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)

    def log(self, name: str, tail: int = 4000) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    def all_logs(self) -> str:
        return "\n".join(f"==== {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(self.logs.glob("*.log")))

    def wait(self, what: str, cond: Callable[[], object], timeout_s: float = 60.0, every: float = 0.3,
             describe: Callable[[], object] | None = None) -> object:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            got = cond()
            if got:
                return got
            time.sleep(every)
        state = f"\nstate: {describe()}" if describe is not None else ""
        raise AssertionError(f"timed out waiting for {what}{state}\n{self.all_logs()}")


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The running stack; a test module may set CHALLENGE_WINDOW_S / MOVE_TIMEOUT_S (seconds) for its
    deployment, VERIFIER_ARGS for its verifier process (default: re-run everything, honestly), RPC_PROXY = True
    to put a TCP proxy it can cut between every service and anvil, OWN_POSTGRES = True for a Postgres cluster
    of its own that it can restart."""
    window = int(getattr(request.module, "CHALLENGE_WINDOW_S", CHALLENGE_WINDOW_S))
    # Each party's whole-game chess clock (not a per-move window): roomy enough for a busy machine.
    move_timeout = int(getattr(request.module, "MOVE_TIMEOUT_S", 120))
    verifier_args = list(getattr(request.module, "VERIFIER_ARGS", ["--always"]))
    tmp = tmp_path_factory.mktemp("stack")
    logs = tmp / "logs"
    logs.mkdir()
    redis_server = RedisServer().start()
    pg = PostgresCluster().__enter__() if getattr(request.module, "OWN_POSTGRES", False) else None
    db = machine_database("agora_worker") if pg is None else contextlib.nullcontext(pg.create_db("agora"))
    db_url = db.__enter__()
    stop = threading.Event()
    with AnvilProcess(accounts=10) as node:
        a = node.accounts
        params = DeployParams.devnet(matcher=a[1].address, treasury=a[5].address, referee=a[8].address,
                                     challenge_window_s=window, accept_timeout_s=30,
                                     move_timeout_s=move_timeout, referee_timeout_s=max(30, move_timeout))
        deployment = deploy(node.rpc_url, a[0].private_key, params, out_dir=tmp / "deployments")
        proxy = None
        if getattr(request.module, "RPC_PROXY", False):
            proxy = TcpProxy(int(node.rpc_url.rsplit(":", 1)[1])).start()
        service_rpc = proxy.url if proxy is not None else node.rpc_url
        port = free_port()
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "AGORA_DATABASE_URL": db_url,
            "AGORA_RPC_URL": service_rpc,
            "AGORA_CHAIN_ID": "31337",
            "AGORA_DEPLOYMENT_FILE": str(deployment.path),
            "AGORA_BROKER_URL": redis_server.url,
            "AGORA_CONFIRMATIONS": "0",
            "AGORA_INDEXER_POLL_S": "0.3",
            "AGORA_MATCHER_POLL_S": "0.5",
            "AGORA_HEARTBEAT_TTL_S": "6",
            "AGORA_ARTIFACT_DIR": str(tmp / "artifacts"),
            "AGORA_COORDINATOR_URL": f"http://127.0.0.1:{port}",
            "AGORA_WORKER_DIR": str(tmp / "workers"),
            "AGORA_HEARTBEAT_S": "1",
            "AGORA_VISIBILITY_TIMEOUT_S": "15",
            "AGORA_LEASE_TTL_S": "6",
            "AGORA_VERIFIERS": a[4].address,  # may read every job's spec and dataset (coordinator/access.py)
        }
        for k in ("AGORA_PROVIDER_KEY", "AGORA_PROVIDER_KEY_FILE", "AGORA_FAULT"):
            env.pop(k, None)
        subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=env, check=True,
                       capture_output=True, timeout=120)
        s = Stack(node, deployment, f"http://127.0.0.1:{port}", env, logs, redis=redis_server, proxy=proxy, pg=pg)
        try:
            s.spawn("api", [sys.executable, "-m", "uvicorn", "--factory", "coordinator.app:app_from_env",
                            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"])
            s.spawn("indexer", [sys.executable, "-m", "coordinator.indexer"])
            s.spawn("matcher", [sys.executable, "-m", "coordinator.matcher"], {"AGORA_MATCHER_KEY": a[1].private_key})
            s.spawn("verifier", [sys.executable, "-m", "verifier", "verify", *verifier_args],
                    {"AGORA_VERIFIER_KEY": a[4].private_key})
            s.spawn("referee", [sys.executable, "-m", "verifier", "referee", "--grace", "3"],
                    {"AGORA_REFEREE_KEY": a[8].private_key})
            api = CoordinatorClient(s.coordinator_url)
            s.wait("the coordinator", api.healthy, timeout_s=60)
            ticker = threading.Thread(target=_tick, args=(node, stop), daemon=True)
            ticker.start()
            yield s
        finally:
            stop.set()
            s.stop_all()
            redis_server.__exit__()
            if proxy is not None:
                proxy.close()
            db.__exit__(None, None, None)
            if pg is not None:
                pg.__exit__()


def _tick(node: AnvilProcess, stop: threading.Event) -> None:
    """A live chain makes blocks even when nobody sends transactions; an automining anvil does not, and its clock
    (which finalize() and timeout() are judged by) would stand still. Mine one block a second."""
    while not stop.wait(1.0):
        try:
            node.mine()
        except Exception:  # noqa: BLE001 - the node is going away at the end of the module
            return


def ensure_staked(stack: Stack, account, amount_wei: int = STAKE) -> None:
    """Tops the account's free stake up to `amount_wei`, whatever earlier tests left there."""
    sm = StakeManager.connect(stack.deployment, stack.anvil.rpc_url, account.private_key)
    free = sm.free_stake_of(account.address)
    if free < amount_wei:
        sm.stake(amount_wei - free)


def start_worker(stack: Stack, account, name: str, fault: str | None = None, *, stake: bool = True) -> None:
    if stake:
        StakeManager.connect(stack.deployment, stack.anvil.rpc_url, account.private_key).stake(STAKE)
    key_file = stack.logs.parent / f"{name}.key"
    key_file.write_text(account.private_key + "\n")
    cmd = [sys.executable, "-m", "worker", "--key-file", str(key_file), "--hostname", f"{name}@%h"]
    if fault:
        cmd += ["--fault", fault]
    stack.spawn(name, cmd)
    api = CoordinatorClient(stack.coordinator_url)

    def alive() -> bool:
        try:
            return bool(api.provider(account.address).get("alive"))
        except Exception:  # noqa: BLE001 - not known yet
            return False

    stack.wait(f"{name} heartbeat", alive, timeout_s=60)


def post_job(stack: Stack, client_account, spec: dict) -> tuple[CoordinatorClient, int]:
    api = CoordinatorClient(stack.coordinator_url, client_account.private_key)
    created = api.create_job(spec, price_wei=PRICE, deadline_s=900, collateral_wei=PRICE)
    tx = created["transaction"]
    w3 = stack.anvil
    h = w3.rpc("eth_sendTransaction", [{"from": client_account.address, "to": tx["to"], "data": tx["data"],
                                        "value": hex(int(tx["value"]))}])
    stack.wait("escrow receipt", lambda: w3.rpc("eth_getTransactionReceipt", [h]), timeout_s=20)
    return api, int(created["job"]["id"])


def job_status(api: CoordinatorClient, job_id: int) -> str:
    return str(api.job(job_id)["status"])

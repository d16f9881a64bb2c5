"""The local devnet: anvil + contracts + coordinator (API, indexer, matcher) + workers + verifier + referee,
each its own process under the devnet's supervisor; `up` returns once every service answers.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agora.devnet import accounts
from agora.devnet.state import Account, DevnetState, devnet_dir
from agora.devnet.supervisor import Supervisor
from agora.keys import write_key_file

REPO_ROOT = Path(__file__).resolve().parents[2]
CHAIN_ID = 31337
ETHER = 10**18

# Devnet clocks in seconds (contract parameters). Short enough for tests to watch a timeout happen, long enough
# for a loaded 2-core laptop to answer a dispute move or re-run a small job inside the challenge window.
DEFAULT_CLOCKS = {
    "challenge-window": 20, "accept-timeout": 30, "move-timeout": 20, "referee-timeout": 30, "unbonding": 5,
    # A Running job's provider must heartbeat on-chain within this; a minute keeps a busy machine's workers safe.
    "liveness": 60,
}
FAST_CLOCKS = {
    "challenge-window": 10, "accept-timeout": 15, "move-timeout": 10, "referee-timeout": 15, "unbonding": 2,
    "liveness": 60,
}
_CLOCK_PARAM = {
    "challenge-window": "challenge_window_s",
    "accept-timeout": "accept_timeout_s",
    "move-timeout": "move_timeout_s",
    "referee-timeout": "referee_timeout_s",
    "unbonding": "unbonding_period_s",
    "liveness": "liveness_window_s",
}
WORKER_FAULTS = ("perturb-step", "perturb-node", "lazy", "wrong-final", "silent")
VERIFIER_FAULTS = ("false-challenge",)


class DevnetError(RuntimeError):
    """The devnet could not be brought up, or is in a state the command cannot work with."""


@dataclass
class DevnetOptions:
    workers: int = 1
    faulty_workers: list[str] = field(default_factory=list)  # worker i (1-based) gets faulty_workers[i-1]
    faulty_verifier: str | None = None
    database: str | None = None
    reset_db: bool = False  # an external --db is emptied first (alembic downgrade base): it describes old chains
    broker: str | None = None
    port_base: int | None = None
    fast_clocks: bool = False
    clocks: dict[str, int] = field(default_factory=dict)
    block_time: float | None = None  # seconds between empty blocks (default 1)
    stake_wei: int = ETHER
    verifier: bool = True
    referee: bool = True
    ready_timeout_s: float = 120.0

    def clock_values(self) -> dict[str, int]:
        values = dict(FAST_CLOCKS if self.fast_clocks else DEFAULT_CLOCKS)
        for name, secs in self.clocks.items():
            if name not in values:
                raise DevnetError(f"unknown clock {name!r}: use one of {', '.join(values)}")
            values[name] = int(secs)
        return values


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return 200 <= resp.status < 300
    except (OSError, urllib.error.URLError, ValueError):
        return False


def _http_json(url: str, timeout: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def _rpc_chain_id(url: str) -> int | None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=2) as resp:
            return int(json.loads(resp.read())["result"], 16)
    except (OSError, urllib.error.URLError, ValueError, KeyError):
        return None


def _redis_db(url_base: str, owner: str) -> str | None:
    """A Redis database of our own on a reachable server (claimed with a key, so two devnets never share
    queues named after the same dev addresses); None when no Redis answers."""
    try:
        import redis
    except ImportError:
        return None
    # Databases 11+ are left to test suites that pick fixed ones; 0 is everybody's default.
    for db in range(1, 11):
        try:
            r = redis.Redis.from_url(f"{url_base}/{db}", socket_connect_timeout=1, socket_timeout=2)
            raw = r.get("agora:devnet:owner")
            claimed = raw.decode() if isinstance(raw, bytes) else raw
            if claimed is not None and claimed == owner:
                # Our own earlier devnet: its stale queues would hand out job ids of another database.
                r.flushdb()
            elif claimed is not None or r.dbsize() > 0:
                continue  # someone else's
            if not r.set("agora:devnet:owner", owner, ex=7 * 24 * 3600, nx=claimed is None):
                continue  # another devnet claimed it a moment ago
            return f"{url_base}/{db}"
        except redis.RedisError:
            return None
        except OSError:
            return None
    return None


def _release_redis_db(url: str, owner: str) -> None:
    if not url.startswith("redis://"):
        return
    try:
        import redis

        r = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        got = r.get("agora:devnet:owner")
        if isinstance(got, bytes) and got.decode() == owner:
            r.flushdb()
    except Exception:  # noqa: BLE001, S110 - best effort: a broker gone away has nothing to release
        pass


class Devnet:
    """One devnet rooted at a folder (default .agora/devnet): its supervisor, state and lifecycle."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or devnet_dir()).resolve()
        self.supervisor = Supervisor(self.root)

    # ------------------------------------------------------------------ reading
    def state(self) -> DevnetState | None:
        return DevnetState.load(self.root)

    def is_up(self) -> bool:
        st = self.state()
        return st is not None and any(self.supervisor.state(n) == "running" for n in st.services)

    def status(self) -> dict[str, Any]:
        """What `agora devnet status --json` prints."""
        st = self.state()
        names = st.services if st else self.supervisor.names()
        processes = {}
        for name in names:
            rec = self.supervisor.record(name)
            processes[name] = {
                "pid": rec.pid if rec else None,
                "state": self.supervisor.state(name),
                "log": rec.log if rec else str(self.supervisor.log_file(name)),
            }
        if st is None:
            return {"up": False, "root": str(self.root), "coordinator": None, "rpc": None, "chain_id": None,
                    "deployment": None, "processes": processes}
        return {
            "up": any(p["state"] == "running" for p in processes.values()),
            "root": str(self.root),
            "coordinator": st.coordinator,
            "console": st.coordinator + "/",
            "rpc": st.rpc,
            "chain_id": st.chain_id,
            "deployment": st.deployment,
            "database": st.database,
            "broker": st.broker,
            "artifact_dir": st.artifact_dir,
            "accounts": {k: {"address": v.address, "key_file": v.key_file} for k, v in st.accounts.items()},
            "params": st.params,
            "processes": processes,
        }

    # ------------------------------------------------------------------ up
    def up(self, opts: DevnetOptions, report: Callable[[str], None] = lambda _m: None) -> DevnetState:
        """Starts everything; on any failure stops what it started and raises DevnetError with the log's tail."""
        if self.is_up():
            raise DevnetError(f"a devnet is already up in {self.root}: run `agora devnet down` first")
        if opts.workers < 0:
            raise DevnetError("--workers must be 0 or more")
        for fault in opts.faulty_workers:
            if fault.split("=")[0] not in WORKER_FAULTS:
                raise DevnetError(f"unknown worker fault {fault!r}: use one of "
                                  "perturb-step=K, perturb-node=K:NODE, lazy[=K], wrong-final, silent[=K]")
        if len(opts.faulty_workers) > opts.workers:
            raise DevnetError(f"{len(opts.faulty_workers)} faulty worker(s) need --workers {len(opts.faulty_workers)} "
                              "or more")
        if opts.faulty_verifier and opts.faulty_verifier.split("=")[0] not in VERIFIER_FAULTS:
            raise DevnetError(f"unknown verifier fault {opts.faulty_verifier!r}: use false-challenge[=K]")
        clocks = opts.clock_values()
        # A half-dead earlier devnet (a crashed `up`) leaves pid files: clear them first.
        self.down(quiet=True)
        self.root.mkdir(parents=True, exist_ok=True)
        self._clear_data()
        try:
            return self._up(opts, clocks, report)
        except BaseException:
            self.down(quiet=True)
            raise

    def _up(self, opts: DevnetOptions, clocks: dict[str, int], report: Callable[[str], None]) -> DevnetState:
        from chain.anvil import anvil_binary

        if opts.port_base is not None:
            rpc_port, api_port = opts.port_base, opts.port_base + 1
            for p in (rpc_port, api_port):
                if not _port_free(p):
                    raise DevnetError(f"port {p} is taken: pick another --port-base")
        else:
            rpc_port, api_port = _free_port(), _free_port()
        rpc = f"http://127.0.0.1:{rpc_port}"
        coordinator = f"http://127.0.0.1:{api_port}"
        keys_dir = self.root / "keys"
        t0 = time.monotonic()

        # ---- chain
        cmd = [str(anvil_binary()), "--host", "127.0.0.1", "--port", str(rpc_port), "--chain-id", str(CHAIN_ID),
               "--accounts", "10", "--balance", "10000", "--silent"]
        # Automine plus an empty block every `block_time` seconds: transactions mine at once, and the chain
        # clock follows the wall clock even when nobody transacts (gas estimation of finalize / timeout / withdraw
        # runs against the latest block's timestamp, which automine alone would leave behind).
        cmd += ["--block-time", f"{opts.block_time or 1:g}", "--mixed-mining"]
        self.supervisor.start("anvil", cmd)
        self._wait("anvil", lambda: _rpc_chain_id(rpc) == CHAIN_ID, 30)
        report(f"anvil      {rpc} (chain {CHAIN_ID})")

        # ---- keys
        role_keys = {r: accounts.role_key(r) for r in accounts.ROLE_INDEX}
        provider_keys = [accounts.provider_key(i) for i in range(opts.workers)]
        acct: dict[str, Account] = {}
        for role, key in role_keys.items():
            acct[role] = Account(accounts.address_of(key), str(write_key_file(keys_dir / f"{role}.key", key)))
        for i, key in enumerate(provider_keys, start=1):
            acct[f"worker-{i}"] = Account(
                accounts.address_of(key), str(write_key_file(keys_dir / f"worker-{i}.key", key))
            )

        # ---- contracts
        from web3.types import RPCEndpoint

        from chain.deploy import DeployParams, deploy
        from chain.sender import make_web3
        from chain.stake_manager import StakeManager

        params = DeployParams.devnet(
            **{_CLOCK_PARAM[k]: v for k, v in clocks.items()},
            matcher=acct["matcher"].address,
            treasury=acct["treasury"].address,
            referee=acct["referee"].address,
        )
        deployment = deploy(rpc, role_keys["deployer"], params, out_dir=self.root)
        assert deployment.path is not None
        report(f"contracts  {', '.join(f'{n} {a}' for n, a in deployment.contracts.items())}")
        w3 = make_web3(rpc)
        for i, key in enumerate(provider_keys):
            if not accounts.is_dev_account(key):
                # an anvil cheat method: funds a derived provider key beyond the ten dev accounts
                w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [accounts.address_of(key), hex(10_000 * ETHER)])
            StakeManager.connect(deployment, w3, key).stake(opts.stake_wei)
        if provider_keys:
            report(f"staked     {opts.stake_wei / ETHER:g} ETH for each of {len(provider_keys)} provider(s)")

        # ---- database, artifacts, broker
        database = opts.database or f"sqlite:///{self.root / 'coordinator.db'}"
        artifact_dir = self.root / "artifacts"
        artifact_dir.mkdir(parents=True, exist_ok=True)
        env = self._base_env()
        env.update({
            "AGORA_DATABASE_URL": database,
            "AGORA_RPC_URL": rpc,
            "AGORA_CHAIN_ID": str(CHAIN_ID),
            "AGORA_DEPLOYMENT_FILE": str(deployment.path),
            "AGORA_COORDINATOR_URL": coordinator,
            "AGORA_ARTIFACT_DIR": str(artifact_dir),
        })
        broker = opts.broker or _redis_db("redis://127.0.0.1:6379", str(self.root))
        if broker is None:
            # No Redis: kombu's filesystem transport needs only a folder (the Celery apps read AGORA_BROKER_DIR).
            broker_dir = self.root / "broker"
            for sub in ("in", "processed"):
                (broker_dir / sub).mkdir(parents=True, exist_ok=True)
            broker = "filesystem://"
            env["AGORA_BROKER_DIR"] = str(broker_dir)
        env["AGORA_BROKER_URL"] = broker
        report(f"broker     {broker}")

        alembic = [sys.executable, "-m", "alembic", "-c", str(REPO_ROOT / "alembic.ini")]
        if opts.database and opts.reset_db:
            reset = self.supervisor.start("migrate", [*alembic, "downgrade", "base"], env=env, cwd=REPO_ROOT)
            self._wait("migrate", lambda: not reset.running, 120)
        migrate = self.supervisor.start("migrate", [*alembic, "upgrade", "head"], env=env, cwd=REPO_ROOT)
        self._wait("migrate", lambda: not migrate.running, 120)
        self.supervisor.pid_file("migrate").unlink(missing_ok=True)
        if not self._migrated(database):
            raise DevnetError(f"`alembic upgrade head` failed: see {migrate.log}\n{self._tail('migrate')}")
        report(f"database   {database} (migrated)")

        # ---- coordinator: API, indexer, matcher (separate processes sharing the database)
        cenv = dict(env)
        cenv.update({
            "AGORA_MATCHER_KEY_FILE": acct["matcher"].key_file,
            # Automine makes one block per transaction: with confirmations > 0 the last event of a quiet chain
            # would never count, so the devnet trusts every mined block.
            "AGORA_CONFIRMATIONS": "0",
            "AGORA_INDEXER_POLL_S": "0.25",
            "AGORA_MATCHER_POLL_S": "0.5",
            "AGORA_SIWE_DOMAIN": f"127.0.0.1:{api_port}",
            "AGORA_SIWE_URI": coordinator,
            # The console's dev-key sign-in: a devnet's keys are public test keys; no other coordinator has this.
            "AGORA_DEV_SIGNIN_DIR": str(keys_dir),
            # The devnet verifier may read every job's spec and dataset to re-run it (coordinator/access.py).
            "AGORA_VERIFIERS": acct["verifier"].address,
            # API, indexer and matcher write their metrics here and the API's /metrics serves them all.
            "PROMETHEUS_MULTIPROC_DIR": str(self._fresh_metrics_dir()),
        })
        services = ["anvil"]
        self.supervisor.start(
            "coordinator-api",
            [sys.executable, "-m", "uvicorn", "--factory", "coordinator.app:app_from_env",
             "--host", "127.0.0.1", "--port", str(api_port), "--log-level", "warning"],
            env=cenv, cwd=REPO_ROOT,
        )
        services.append("coordinator-api")
        self.supervisor.start("coordinator-indexer", [sys.executable, "-m", "coordinator.indexer"], env=cenv,
                              cwd=REPO_ROOT)
        services.append("coordinator-indexer")
        if importlib.util.find_spec("coordinator.matcher") is not None:
            self.supervisor.start("coordinator-matcher", [sys.executable, "-m", "coordinator.matcher"], env=cenv,
                                  cwd=REPO_ROOT)
            services.append("coordinator-matcher")
        self._wait("coordinator-api", lambda: _http_ok(coordinator + "/readyz"), 60,
                   also=["coordinator-indexer", "coordinator-matcher"])
        report(f"coordinator {coordinator} (docs {coordinator}/docs)")
        report(f"console    {coordinator}/ (open it in a browser; sign in with a devnet account)")

        # ---- workers (the faulty one first), verifier, referee
        common = ["--coordinator", coordinator, "--rpc", rpc, "--deployment", str(deployment.path)]
        for i in range(1, opts.workers + 1):
            wenv = dict(env)
            wenv.update({
                "AGORA_WORKER_DIR": str(self.root / "workspaces" / f"worker-{i}"),
                # Quick heartbeats make `up` return sooner; a short visibility timeout lets a killed worker's
                # job be redelivered within a test's patience.
                "AGORA_HEARTBEAT_S": "2",
                "AGORA_VISIBILITY_TIMEOUT_S": "20",
                "AGORA_WORKER_THREADS": "1",
            })
            cmd = [sys.executable, "-m", "worker", "--key-file", acct[f"worker-{i}"].key_file, *common]
            if i <= len(opts.faulty_workers):
                cmd += ["--fault", opts.faulty_workers[i - 1]]
                wenv["AGORA_FAULT"] = opts.faulty_workers[i - 1]
            self.supervisor.start(f"worker-{i}", cmd, env=wenv, cwd=REPO_ROOT)
            services.append(f"worker-{i}")
        # Replays run one intra-op thread per process, as the workers do: several compute processes share the
        # machine, and two OpenMP threads each made a loaded 2-core machine's im2col ~20x slower (measured).
        replay_env = {**env, "OMP_NUM_THREADS": "1"}
        if opts.verifier:
            venv = dict(replay_env)
            cmd = [sys.executable, "-m", "verifier", "verify", "--key-file", acct["verifier"].key_file, *common]
            if opts.faulty_verifier:
                cmd += ["--fault", opts.faulty_verifier]
                venv["AGORA_FAULT"] = opts.faulty_verifier
            self.supervisor.start("verifier", cmd, env=venv, cwd=REPO_ROOT)
            services.append("verifier")
        if opts.referee:
            cmd = [sys.executable, "-m", "verifier", "referee", "--key-file", acct["referee"].key_file, *common]
            self.supervisor.start("referee", cmd, env=dict(replay_env), cwd=REPO_ROOT)
            services.append("referee")

        state = DevnetState(
            coordinator=coordinator, rpc=rpc, chain_id=CHAIN_ID, deployment=str(deployment.path),
            database=database, broker=broker, artifact_dir=str(artifact_dir), accounts=acct, services=services,
            params={"clocks": clocks, "workers": opts.workers, "faulty_workers": {f"worker-{i}": f for i, f in enumerate(opts.faulty_workers, start=1)},
                    "faulty_verifier": opts.faulty_verifier, "stake_wei": str(opts.stake_wei),
                    "contracts": deployment.contracts},
            started_at=time.time(),
        )
        state.save(self.root)

        for i in range(1, opts.workers + 1):
            address = acct[f"worker-{i}"].address.lower()

            def alive(a: str = address) -> bool:
                return self._provider_alive(coordinator, a)

            self._wait(f"worker-{i}", alive, opts.ready_timeout_s)
            tag = f" (FAULT {opts.faulty_workers[i - 1]}: test behaviour)" if i <= len(opts.faulty_workers) else ""
            report(f"worker-{i}   {acct[f'worker-{i}'].address}{tag}")
        # The verifier and referee serve no port: alive a few seconds after start means their set-up passed.
        settle = time.monotonic() + 3
        for name in ("verifier", "referee"):
            if name in services:
                self._wait(name, lambda: time.monotonic() > settle, 30)
                report(f"{name:<10} {acct[name].address}")
        report(f"up in {time.monotonic() - t0:.1f}s; logs in {self.supervisor.log_dir}")
        return state

    # ------------------------------------------------------------------ down
    def down(self, *, quiet: bool = False) -> list[str]:
        """Stops what `up` started (by pid file), newest first; idempotent. Returns the names it stopped."""
        st = self.state()
        names = list(st.services) if st else []
        for extra in self.supervisor.names():
            if extra not in names:
                names.append(extra)
        # Clients before the services they use (ranks), each rank's services side by side.
        stopped: list[str] = []
        for rank in sorted({_stop_rank(n)[0] for n in names}):
            stopped += self.supervisor.stop_all(sorted(n for n in names if _stop_rank(n)[0] == rank))
        if st is not None:
            _release_redis_db(st.broker, str(self.root))
            (self.root / "state.json").unlink(missing_ok=True)
        return stopped

    # ------------------------------------------------------------------ helpers
    def _clear_data(self) -> None:
        """A new devnet is a new chain: data of an earlier one (database, artifacts, worker workspaces, the
        deployment file) would describe blocks and jobs that no longer exist. Logs are kept (appended to)."""
        import shutil

        for name in ("coordinator.db", "coordinator.db-wal", "coordinator.db-shm", f"{CHAIN_ID}.json"):
            (self.root / name).unlink(missing_ok=True)
        for sub in ("artifacts", "workspaces", "broker"):
            shutil.rmtree(self.root / sub, ignore_errors=True)

    def _base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGORA_")}
        env["PYTHONUNBUFFERED"] = "1"
        # Services run from the repo root; keep the user's packages importable from there too.
        env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO_ROOT), env.get("PYTHONPATH", "")] if p)
        return env

    def _migrated(self, database: str) -> bool:
        from sqlalchemy import create_engine, inspect

        engine = create_engine(database)
        try:
            return "alembic_version" in inspect(engine).get_table_names()
        except Exception:  # noqa: BLE001 - any failure to look means not migrated
            return False
        finally:
            engine.dispose()

    def _provider_alive(self, coordinator: str, address: str) -> bool:
        try:
            return bool(_http_json(f"{coordinator}/v1/providers/{address}").get("alive"))
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def _tail(self, name: str, lines: int = 15) -> str:
        try:
            text = self.supervisor.log_file(name).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join("    " + ln for ln in text.rstrip().splitlines()[-lines:])

    def _fresh_metrics_dir(self) -> Path:
        """An empty folder for prometheus_client's multiprocess files (stale ones would mix in a dead run)."""
        import shutil

        folder = self.root / "metrics"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return folder

    def _wait(self, name: str, ready: Callable[[], bool], timeout_s: float, also: list[str] | None = None) -> None:
        """Polls `ready` until true; fails early (with the log's tail) when the service or a sibling exits."""
        deadline = time.monotonic() + timeout_s
        watched = [name, *(also or [])]
        while True:
            if ready():
                return
            for w in watched:
                if self.supervisor.record(w) is not None and self.supervisor.state(w) == "exited" and w != "migrate":
                    raise DevnetError(
                        f"{w} exited during start-up: see {self.supervisor.log_file(w)}\n{self._tail(w)}"
                    )
            if time.monotonic() > deadline:
                raise DevnetError(
                    f"{name} did not become ready within {timeout_s:.0f}s: see {self.supervisor.log_file(name)}\n"
                    f"{self._tail(name)}"
                )
            time.sleep(0.2)


def _stop_rank(name: str) -> tuple[int, str]:
    # Clients of a service stop before the service: workers/verifier/referee, then the coordinator, then anvil.
    if name.startswith(("worker", "verifier", "referee")):
        return (0, name)
    if name.startswith("coordinator"):
        return (1, name)
    if name == "anvil":
        return (3, name)
    return (2, name)

"""Throwaway Redis servers and Postgres clusters on free ports, for tests that need a service of their own:
ones that restart it (fault tests) or must not share queues and leases with another test run on the same
machine (the worker stack). The machine's own services are never touched. Also `Tripwire`: act on a service
the instant something shows (freeze a worker the moment it logs an accept, kill it when a checkpoint lands).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Generic, Self, TypeVar

from chain.anvil import free_port

MACHINE_PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"

T = TypeVar("T")


class Tripwire(Generic[T]):
    """Polls `probe` in a thread from now on; the first time it returns something (not None) calls `act` with it
    at once and keeps it as `hit`. For faults that must strike at a moment no API shows in time: a 300-step job
    trains in under a second, before a progress report is seen, so "freeze the worker the moment it logs its
    accept" or "kill it the moment a checkpoint is in its workspace" is watched for here, every `poll_s`.
    `wait(timeout_s)` returns the hit, or None when `probe` found nothing in time (the watching then stops)."""

    def __init__(self, probe: Callable[[], T | None], act: Callable[[T], object], poll_s: float = 0.01) -> None:
        self.probe, self.act, self.poll_s = probe, act, poll_s
        self.hit: T | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            found = self.probe()
            if found is not None:
                self.act(found)
                self.hit = found
                return
            time.sleep(self.poll_s)

    def wait(self, timeout_s: float) -> T | None:
        self._thread.join(timeout_s)
        self._stop.set()
        self._thread.join()  # a probe or act under way finishes: `hit` is then final
        return self.hit


def log_since_now(read: Callable[[], str]) -> Callable[[], str]:
    """What `read()` (a whole log) returns beyond what it held when this was called."""
    start = len(read())
    return lambda: read()[start:]


@contextmanager
def machine_database(prefix: str) -> Iterator[str]:
    """`with machine_database("agora_x") as url:` — a database of its own on the machine's Postgres
    (127.0.0.1:5432), named `prefix_<random>` so parallel test processes and two checkouts never share one, and
    dropped at the end (WITH FORCE: services still connected do not keep it)."""
    import secrets

    import psycopg

    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(MACHINE_PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(MACHINE_PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def machine_redis_url() -> str:
    """The machine's Redis (127.0.0.1:6379), in a database of this test process's own: 11 for a plain run,
    11 + n for pytest-xdist worker `gwN` (devnets claim 1–10, 0 is everybody's default), so tests that clear
    their database never clear another process's."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    if index > 4:
        raise RuntimeError(f"xdist worker {worker}: Redis has databases 11-15 for at most 5 test processes")
    return f"redis://127.0.0.1:6379/{11 + index}"


def _wait_port(port: int, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout_s:g}s")


class RedisServer:
    """`with RedisServer() as r: r.url` — a redis-server of its own, no persistence; restart() keeps the port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.mkdtemp(prefix="agora-redis-")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Self:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self._dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        _wait_port(self.port, 30, "redis-server")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self, down_s: float = 0.0) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"no {name} under /usr/lib/postgresql/*/bin (apt-get install postgresql)")
    return found[-1]


class PostgresCluster:
    """`with PostgresCluster() as pg: pg.url("db")` — initdb into a temporary folder, trust auth, a free port.

    restart() stops it (fast mode: connections are cut, as in a crash or failover) and starts it on the same
    port with the same data. Runs as the current user; Postgres refuses to run as root, so as root the
    cluster belongs to the `postgres` user.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="agora-pg-"))
        self.data = self.dir / "data"
        self._as: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 120) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, timeout=timeout)

    def init(self) -> PostgresCluster:
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync")
        return self

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"), "-w",
                  "-t", "60", "start")
        _wait_port(self.port, 30, "postgres")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def restart(self, down_s: float = 0.0) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()

    def create_db(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def url(self, name: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def __enter__(self) -> Self:
        self.init()
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class TcpProxy:
    """A TCP relay 127.0.0.1:port → target. cut() closes every connection and stops listening (the node is
    gone: connections are refused); restore() listens on the same port again."""

    def __init__(self, target_port: int) -> None:
        import threading

        self.target_port = target_port
        self.port = free_port()
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._server: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        import threading

        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self.port))
        srv.listen(128)
        self._server = srv
        t = threading.Thread(target=self._accept, args=(srv,), daemon=True)
        t.start()
        return self

    def _accept(self, srv: socket.socket) -> None:
        import threading

        while True:
            try:
                client, _ = srv.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def restore(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                self.start()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def close(self) -> None:
        self.cut()


class RpcTap:
    """A JSON-RPC relay to `target_url` that lets a test act on one request: `on_send(raw_tx_data) -> bool`
    is asked about every eth_sendRawTransaction (with the transaction's calldata); when it answers True the
    transaction is relayed to the node, `then()` runs (e.g. SIGKILL the sender), and the caller never gets
    the answer — a crash after the send and before the receipt."""

    def __init__(self, target_url: str, on_send: Any, then: Any) -> None:
        self.target_url = target_url
        self.on_send = on_send
        self.then = then
        self.port = free_port()
        self.fired = 0
        self._server: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _calldata(self, raw_hex: str) -> bytes:
        from eth_account.typed_transactions import TypedTransaction
        from hexbytes import HexBytes

        raw = HexBytes(raw_hex)
        try:
            data = TypedTransaction.from_bytes(raw).as_dict().get("data", b"")
        except Exception:  # noqa: BLE001 - a legacy transaction: not what the tap looks for
            return b""
        return bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else bytes(data)

    def start(self) -> RpcTap:
        import json
        import threading
        import urllib.request
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        tap = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                fire = False
                try:
                    msg = json.loads(body)
                    for m in msg if isinstance(msg, list) else [msg]:
                        if m.get("method") == "eth_sendRawTransaction" and tap.on_send(tap._calldata(m["params"][0])):
                            fire = True
                except (ValueError, KeyError, TypeError, AttributeError):
                    pass
                req = urllib.request.Request(tap.target_url, data=body, headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=30) as resp:
                    answer = resp.read()
                if fire:
                    tap.fired += 1
                    tap.then()
                    self.close_connection = True
                    return  # no answer: the sender dies (or times out) without its receipt
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

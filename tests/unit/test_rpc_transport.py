"""chain.rpc: one retry layer with a per-call budget, and an error that names the endpoint."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chain.errors import TransientChainError
from chain.rpc import RpcPolicy, RpcUnavailable, make_web3
from chain.sender import Sender


class _BlackHole:
    """Accepts TCP connections and never answers; counts them."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._accept, daemon=True)
        self._t.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self._t.join(5)
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.fixture
def hole():
    h = _BlackHole()
    yield h
    h.close()


def test_silent_node_costs_one_bounded_retry_loop(hole):
    # The old stack (web3's 5 tries × the sender's 4) made 20 requests here; one layer makes ≤ max_attempts.
    url = f"http://127.0.0.1:{hole.port}"
    policy = RpcPolicy(timeout_s=0.3, budget_s=1.0, max_attempts=4, backoff_s=0.01)
    sender = Sender(make_web3(url, policy=policy), "0x" + "11" * 32)
    t0 = time.monotonic()
    with pytest.raises(RpcUnavailable) as err:
        sender.chain_id  # noqa: B018 - the property is the read under test
    took = time.monotonic() - t0
    assert f"127.0.0.1:{hole.port}" in str(err.value)
    assert "eth_chainId" in str(err.value)
    assert 1 <= len(hole.conns) <= 4
    # Bounded by the budget (plus one attempt's slack for a busy machine), not by tries × timeout × layers.
    assert took < policy.budget_s + policy.timeout_s + 30


def test_budget_stops_attempts_before_max_attempts(hole):
    policy = RpcPolicy(timeout_s=0.4, budget_s=0.5, max_attempts=10, backoff_s=0.01)
    with pytest.raises(RpcUnavailable) as err:
        make_web3(f"http://127.0.0.1:{hole.port}", policy=policy).eth.block_number  # noqa: B018
    assert err.value.tries <= 2
    assert len(hole.conns) <= 2


def test_refused_connection_is_transient_and_a_connection_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    policy = RpcPolicy(timeout_s=0.5, budget_s=5, max_attempts=3, backoff_s=0.01)
    with pytest.raises(RpcUnavailable) as err:
        make_web3(f"http://127.0.0.1:{port}", policy=policy).eth.chain_id  # noqa: B018
    assert err.value.tries == 3
    assert isinstance(err.value, TransientChainError) and isinstance(err.value, ConnectionError)


class _Status(BaseHTTPRequestHandler):
    hits = 0
    status = 500

    def do_POST(self):
        type(self).hits += 1
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(type(self).status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("status,tries", [(502, 3), (400, 1)])
def test_gateway_errors_are_retried_client_errors_are_not(status, tries):
    handler = type("H", (_Status,), {"hits": 0, "status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        policy = RpcPolicy(timeout_s=2, budget_s=10, max_attempts=3, backoff_s=0.01)
        with pytest.raises(Exception) as err:
            make_web3(f"http://127.0.0.1:{server.server_address[1]}", policy=policy).eth.chain_id  # noqa: B018
        assert handler.hits == tries
        assert isinstance(err.value, RpcUnavailable) == (status >= 500)
    finally:
        server.shutdown()
        server.server_close()


def test_policy_reads_the_environment(monkeypatch):
    monkeypatch.setenv("AGORA_RPC_TIMEOUT_S", "2.5")
    monkeypatch.setenv("AGORA_RPC_BUDGET_S", "7")
    p = RpcPolicy.from_env()
    assert (p.timeout_s, p.budget_s) == (2.5, 7.0)
    assert RpcPolicy.from_env(timeout_s=9).budget_s == 9  # never a budget shorter than one attempt
    monkeypatch.setenv("AGORA_RPC_BUDGET_S", "soon")
    with pytest.raises(ValueError, match="AGORA_RPC_BUDGET_S"):
        RpcPolicy.from_env()


def test_default_policy_lets_a_typed_command_give_up_within_a_minute():
    p = RpcPolicy()
    assert p.budget_s + p.timeout_s <= 60 and p.max_attempts <= 4

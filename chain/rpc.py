"""The one JSON-RPC transport: a Web3 per endpoint whose HTTP provider is the only place a request is retried.

web3's HTTPProvider retries five times on its own and the sender used to retry three more on top, so one
read against a node that accepts connections and never answers took minutes. Here each request gets a
per-attempt timeout and the whole call a total budget; when the budget is spent the caller gets one
`RpcUnavailable` naming the endpoint. Long-running services retry on their own loop (poll, task retry), so
a call never blocks past its budget, and a command a person types gives up well inside a minute.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from eth_typing import URI
from web3 import Web3
from web3.providers.rpc import HTTPProvider
from web3.types import RPCEndpoint

from chain.errors import TransientChainError

# What means "the node did not answer" rather than "the node answered no". An HTTP 5xx from a proxy in
# front of the node is transient too; a 4xx is not.
_TRANSIENT = (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)


class RpcUnavailable(TransientChainError, ConnectionError):
    """The endpoint did not answer within the call's budget. Also a ConnectionError, for callers that only
    know the standard library's name for it."""

    def __init__(self, endpoint: str, method: str, tries: int, elapsed_s: float, cause: BaseException) -> None:
        super().__init__(f"RPC endpoint {endpoint} did not answer {method} "
                         f"({tries} tries in {elapsed_s:.1f}s, last: {type(cause).__name__})")
        self.endpoint = endpoint
        self.method = method
        self.tries = tries


@dataclass(frozen=True)
class RpcPolicy:
    """Patience for one RPC call. Defaults: 10 s per attempt, 30 s and 4 attempts per call in all."""

    timeout_s: float = 10.0  # per attempt (connect, and each read)
    budget_s: float = 30.0  # per call, every attempt and back-off included
    max_attempts: int = 4
    backoff_s: float = 0.25  # doubled after each failed attempt

    @classmethod
    def from_env(cls, timeout_s: float | None = None) -> RpcPolicy:
        """AGORA_RPC_TIMEOUT_S and AGORA_RPC_BUDGET_S override the defaults; an explicit timeout_s wins."""
        env = os.environ
        values: dict[str, float] = {}
        for name, var in (("timeout_s", "AGORA_RPC_TIMEOUT_S"), ("budget_s", "AGORA_RPC_BUDGET_S")):
            raw = env.get(var)
            if raw not in (None, ""):
                try:
                    values[name] = float(raw)  # type: ignore[arg-type]
                except ValueError:
                    raise ValueError(f"${var}={raw!r} is not a number of seconds") from None
        if timeout_s is not None:
            values["timeout_s"] = float(timeout_s)
        policy = cls(**values)  # type: ignore[arg-type]
        if policy.budget_s < policy.timeout_s:  # a budget below one attempt would never try
            policy = cls(timeout_s=policy.timeout_s, budget_s=policy.timeout_s,
                         max_attempts=policy.max_attempts, backoff_s=policy.backoff_s)
        return policy


class BoundedHTTPProvider(HTTPProvider):
    """HTTPProvider with one retry loop bounded in attempts and in total time (web3's own retries off)."""

    def __init__(self, endpoint_uri: str, policy: RpcPolicy, clock: Any = time.monotonic,
                 sleep: Any = time.sleep) -> None:
        super().__init__(endpoint_uri, request_kwargs={"timeout": policy.timeout_s},
                         exception_retry_configuration=None)
        self.policy = policy
        self._endpoint = URI(endpoint_uri)
        self._clock = clock
        self._sleep = sleep

    def _post(self, method: str, request_data: bytes) -> bytes:
        p = self.policy
        start = self._clock()
        deadline = start + p.budget_s
        attempt = 0
        while True:
            attempt += 1
            remaining = deadline - self._clock()
            kwargs = dict(self.get_request_kwargs())
            kwargs["timeout"] = max(0.05, min(p.timeout_s, remaining))
            try:
                return self._request_session_manager.make_post_request(self._endpoint, request_data, **kwargs)
            except requests.HTTPError as exc:
                status = exc.response.status_code if exc.response is not None else 0
                if status < 500:
                    raise
                last: BaseException = exc
            except _TRANSIENT as exc:
                last = exc
            pause = p.backoff_s * 2 ** (attempt - 1)
            # Stop when another attempt could not even start inside the budget.
            if attempt >= p.max_attempts or self._clock() + pause >= deadline:
                raise RpcUnavailable(str(self.endpoint_uri), method, attempt, self._clock() - start, last) from last
            self._sleep(pause)

    def _make_request(self, method: RPCEndpoint, request_data: bytes) -> bytes:
        return self._post(str(method), request_data)

    def make_batch_request(self, batch_requests: Any) -> Any:
        # The parent posts batches without its retry path; route them through ours, then let it decode.
        request_data = self.encode_batch_rpc_request(batch_requests)
        response = self.decode_rpc_response(self._post("batch", request_data))
        if not isinstance(response, list):
            return response
        return sorted(response, key=lambda r: r.get("id", 0))


_WEB3: dict[tuple[str, RpcPolicy], Web3] = {}
_WEB3_LOCK = threading.Lock()


def make_web3(rpc_url: str, timeout_s: float | None = None, policy: RpcPolicy | None = None) -> Web3:
    """A Web3 for rpc_url, shared per (url, policy) so clients reuse one HTTP connection pool.

    No middleware: the default validation layer asks eth_chainId before every eth_call (three round trips
    instead of one), and the sender does its own chain-id, fee and revert handling.
    """
    policy = policy or RpcPolicy.from_env(timeout_s)
    key = (rpc_url, policy)
    with _WEB3_LOCK:
        w3 = _WEB3.get(key)
        if w3 is None:
            w3 = Web3(BoundedHTTPProvider(rpc_url, policy), middleware=[])
            _WEB3[key] = w3
        return w3

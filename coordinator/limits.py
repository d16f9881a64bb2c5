"""Request-body limit for every request, whatever its content type: a body larger than its route's limit is
refused with 413 as soon as the declared length or the bytes received so far pass it, never buffered whole.

Uploads (POST /v1/datasets, /v1/artifacts) get their own, larger limits (the route checks the exact file
size again); every other body gets `default_bytes`. The old guard looked only at JSON content types, so a
1 GB `text/plain` body was read into memory and then answered 422.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from typing import Any


class BodyLimit:
    """ASGI middleware. `by_path` maps an exact path to its limit; anything else gets `default_bytes`."""

    def __init__(self, app: Any, default_bytes: int, by_path: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.default_bytes = default_bytes
        self.by_path = dict(by_path or {})

    def limit_for(self, path: str) -> int:
        return self.by_path.get(path.rstrip("/") or "/", self.default_bytes)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = b""
        for name, value in scope.get("headers") or []:
            if name == b"content-length":
                declared = value
        if declared.strip().isdigit() and int(declared) > limit:
            await _refuse(send, limit)
            return
        seen = 0
        started = exceeded = refused = False

        async def counted() -> dict[str, Any]:
            nonlocal seen, exceeded
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # a chunked body, or one longer than it declared
                    exceeded = True
                    raise _TooLarge
            return message

        async def watched(message: dict[str, Any]) -> None:
            # FastAPI turns any error while parsing a body into its own 400; once the limit is passed, whatever
            # the app answers is replaced by the 413.
            nonlocal started, refused
            if exceeded and not started:
                if not refused:
                    refused = True
                    await _refuse(send, limit)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started and not refused:
                await _refuse(send, limit)


async def _refuse(send: Any, limit: int) -> None:
    body = json.dumps(
        {
            "error": {
                "code": "payload_too_large",
                "message": f"request body exceeds the limit of {limit} bytes",
                "details": {"limit": limit},
            }
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),  # the rest of the body is not read; don't reuse this connection
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    """A streamed body grew past the limit."""


class RateLimiter:
    """Token buckets keyed by client (an IP, an address): `burst` requests at once, refilled at `per_s`.

    For what needs no sign-in (POST /v1/auth/nonce and /login), where each call costs a row or a signature
    recovery. Per process: with N API workers a client gets at most N times the rate, which still bounds it.
    Memory is bounded too: past `max_keys` clients the fullest (idlest) buckets are forgotten first.
    """

    def __init__(self, burst: float, per_s: float, clock: Any = None, max_keys: int = 50_000) -> None:
        self.burst = float(burst)
        self.per_s = float(per_s)
        self.max_keys = max_keys
        self._clock = clock or time.monotonic
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Spends one token of `key`: 0.0 when allowed, else the seconds until one is available."""
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.per_s)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return (1.0 - tokens) / self.per_s if self.per_s > 0 else float("inf")
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > self.max_keys:
                self._forget_full(now)
            return 0.0

    def _forget_full(self, now: float) -> None:
        # A bucket that has refilled is the same as no bucket: drop those first, then the oldest half.
        full = [k for k, (t, at) in self._buckets.items() if t + (now - at) * self.per_s >= self.burst]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) > self.max_keys:
            for k, _ in sorted(self._buckets.items(), key=lambda kv: kv[1][1])[: len(self._buckets) // 2]:
                del self._buckets[k]

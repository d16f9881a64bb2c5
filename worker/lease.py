"""Leases in Redis: at most one worker process trains a given job (or defends for a provider) at a time.

Redis redelivers an unacknowledged task once its visibility timeout passes, even while the first worker is
still training it; the lease (SET NX with a TTL, refreshed while the run lasts) makes the second copy step
aside and come back later. If the holder dies, its lease expires and the next copy resumes the job.
"""

from __future__ import annotations

import threading
import uuid
from types import TracebackType
from typing import Self

import redis


class LeaseBusy(Exception):
    """Another live worker process holds this job's lease."""


_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_EXTEND = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"


class JobLease:
    """`with JobLease(r, key, ttl):` holds the lease for the block, refreshing it every ttl/3 in a thread."""

    def __init__(self, client: redis.Redis | None, key: str, ttl_s: float) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = max(1000, int(ttl_s * 1000))
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        if self.client is None:  # no Redis broker: one process per provider is assumed
            return self
        if not self.client.set(self.key, self.token, nx=True, px=self.ttl_ms):
            raise LeaseBusy(f"{self.key} is held by another worker")
        self._thread = threading.Thread(target=self._refresh, name=f"lease-{self.key}", daemon=True)
        self._thread.start()
        return self

    def _refresh(self) -> None:
        assert self.client is not None
        while not self._stop.wait(self.ttl_ms / 3000):
            try:
                self.client.eval(_EXTEND, 1, self.key, self.token, self.ttl_ms)
            except redis.RedisError:
                pass  # a blip; the next refresh or the TTL decides

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self.client is not None:
            try:
                self.client.eval(_RELEASE, 1, self.key, self.token)
            except redis.RedisError:
                pass  # it expires on its own

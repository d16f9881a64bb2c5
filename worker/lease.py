"""Leases in Redis: at most one worker process trains a given job (or defends for a provider) at a time.

Redis redelivers an unacknowledged task once its visibility timeout passes, even while the first worker is
still training it; the lease (SET NX with a TTL, refreshed while the run lasts) makes the second copy step
aside and come back later. If the holder dies, its lease expires and the next copy resumes the job.

A holder that cannot refresh (its extension answered "not yours", or Redis has not confirmed one for a whole
TTL, after which the key may be gone) has lost the lease: `check()` then raises LeaseLost, and the runner
calls it between steps and before submitting, so a stalled holder stops instead of training beside the new
one.
"""

from __future__ import annotations

import threading
import time
import uuid
from types import TracebackType
from typing import Any, Self

import redis


class LeaseBusy(Exception):
    """Another live worker process holds this job's lease."""


class LeaseLost(LeaseBusy):
    """This process held the lease and no longer does: stop working on what it guards."""


_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_EXTEND = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"


class JobLease:
    """`with JobLease(r, key, ttl):` holds the lease for the block, refreshing it every ttl/3 in a thread."""

    def __init__(self, client: redis.Redis | None, key: str, ttl_s: float, clock: Any = time.monotonic) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = max(1000, int(ttl_s * 1000))
        self.token = uuid.uuid4().hex
        self._clock = clock
        self._confirmed_at = 0.0  # when Redis last confirmed we hold it
        self._lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def lost(self) -> bool:
        self._expire_unconfirmed()
        return self._lost is not None

    def check(self) -> None:
        """Raises LeaseLost when this process no longer holds the lease."""
        if self.lost:
            raise LeaseLost(f"{self.key}: {self._lost}")

    def _expire_unconfirmed(self) -> None:
        if self._lost is None and self._confirmed_at and self._clock() - self._confirmed_at >= self.ttl_ms / 1000:
            self._lost = "no refresh confirmed for a whole TTL; the lease may have passed to another worker"

    def extend(self) -> bool:
        """One refresh; False (and the lease counts as lost) when Redis says another token holds the key."""
        assert self.client is not None
        try:
            ok = bool(self.client.eval(_EXTEND, 1, self.key, self.token, self.ttl_ms))
        except redis.RedisError:
            self._expire_unconfirmed()  # a blip is tolerated until the TTL would have run out
            return not self.lost
        if ok:
            self._confirmed_at = self._clock()
        elif self._lost is None:
            self._lost = "the lease expired and is no longer ours"
        return ok

    def __enter__(self) -> Self:
        if self.client is None:  # no Redis broker: one process per provider is assumed
            return self
        if not self.client.set(self.key, self.token, nx=True, px=self.ttl_ms):
            raise LeaseBusy(f"{self.key} is held by another worker")
        self._confirmed_at = self._clock()
        self._thread = threading.Thread(target=self._refresh, name=f"lease-{self.key}", daemon=True)
        self._thread.start()
        return self

    def _refresh(self) -> None:
        while not self._stop.wait(self.ttl_ms / 3000):
            if not self.extend() and self._lost is not None:
                return  # lost for good: refreshing again could steal it back from the new holder

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self.client is not None and self._lost is None:
            try:
                self.client.eval(_RELEASE, 1, self.key, self.token)
            except redis.RedisError:
                pass  # it expires on its own

"""Streams every step's loss (and held-out evaluations) to the coordinator from a background thread, so training
never waits on HTTP.

Training reports every step; the thread posts everything pending since its last successful post in one batch
(POST /v1/jobs/{id}/progress/batch) at most every `interval_s`. A refused batch is kept and sent again later:
the coordinator refuses a worker's points until it has seen the assignment on-chain, and the first steps of a
job are exactly the ones a user wants on the loss curve (dropping refused points made curves start at step 85
of 200). The buffer is bounded: past `max_pending` points the older half is thinned to every other step, so a
long refusal costs resolution, not memory. Only a 422 (points the coordinator will never take) drops a batch.
`close()` flushes, retrying refused batches until its timeout.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, Self

from client.api import ApiError, CoordinatorClient

log = logging.getLogger("agora.worker")

MAX_BATCH = 1000  # what the coordinator accepts per request
MAX_PENDING = 20_000


class ProgressReporter:
    def __init__(self, api: CoordinatorClient, job_id: int, *, interval_s: float = 0.5,
                 max_pending: int = MAX_PENDING) -> None:
        self.api = api
        self.job_id = job_id
        self.interval_s = interval_s
        self.max_pending = max(2 * MAX_BATCH, max_pending)
        self.posted = 0  # points the coordinator has taken (new or already known)
        self._points: list[tuple[int, float]] = []
        self._evals: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = False
        self._give_up_at = math.inf
        self._thread = threading.Thread(target=self._run, name=f"progress-{job_id}", daemon=True)
        self._thread.start()

    def report(self, step: int, loss: float) -> None:
        if math.isnan(loss) or math.isinf(loss):  # not JSON; a diverged step shows as a gap in the curve
            return
        with self._lock:
            self._points.append((int(step), float(loss)))
            if len(self._points) > self.max_pending:
                half = len(self._points) // 2
                self._points = self._points[:half:2] + self._points[half:]

    def report_eval(self, step: int, loss: float | None, accuracy: float | None) -> None:
        with self._lock:
            self._evals.append({"step": int(step), "loss": loss, "accuracy": accuracy})
        self._wake.set()

    def _take(self) -> tuple[list[tuple[int, float]], list[dict[str, Any]]]:
        with self._lock:
            return self._points[:MAX_BATCH], self._evals[:100]

    def _done(self, points: list[tuple[int, float]], evals: int) -> None:
        # by step, not by count: report() may have thinned the buffer's front while the batch was in flight
        with self._lock:
            if points:
                last = points[-1][0]
                self._points = [p for p in self._points if p[0] > last]
            del self._evals[:evals]

    def _post_once(self) -> bool:
        """Post one batch; True when the buffer is now empty."""
        points, evals = self._take()
        if not points and not evals:
            return True
        try:
            self.api.report_progress_batch(self.job_id, points, evals)
        except ApiError as exc:
            if exc.status != 422:  # not assigned yet on the coordinator's side, or it is away: keep, resend
                log.debug("job %s: progress not recorded yet (%s); will resend", self.job_id, exc)
                return False
            log.warning("job %s: progress refused for good: %s", self.job_id, exc)
        except Exception as exc:  # noqa: BLE001 (progress is advisory: nothing may kill the thread or training)
            log.warning("job %s: progress not sent (%s: %s); will resend", self.job_id, type(exc).__name__, exc)
            return False
        else:
            self.posted += len(points)
        self._done(points, len(evals))
        with self._lock:
            return not self._points and not self._evals

    def _run(self) -> None:
        backoff = self.interval_s
        while True:
            self._wake.wait(backoff)
            self._wake.clear()
            closing = self._closing
            while True:
                before = self._pending()
                empty = self._post_once()
                if empty or self._pending() >= before:
                    break
            if closing and (empty or time.monotonic() > self._give_up_at):
                return
            # a refused batch backs off (up to 5 s); a quiet buffer waits the normal interval
            backoff = self.interval_s if empty else min(5.0, backoff * 2)

    def _pending(self) -> int:
        with self._lock:
            return len(self._points) + len(self._evals)

    def close(self, timeout_s: float = 30.0) -> None:
        """Flush what is pending, resending refused batches, for at most `timeout_s`."""
        self._give_up_at = time.monotonic() + timeout_s
        self._closing = True
        while self._thread.is_alive() and time.monotonic() < self._give_up_at + 1:
            self._wake.set()
            self._thread.join(timeout=0.2)
        if self._pending():
            log.warning("job %s: %d progress points never recorded", self.job_id, self._pending())

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

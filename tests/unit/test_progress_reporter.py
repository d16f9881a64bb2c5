"""The worker's progress stream: every step arrives, in order, even when the coordinator refuses at first."""

from __future__ import annotations

import threading

from client.api import ApiError
from worker.progress import MAX_BATCH, ProgressReporter


class Coordinator:
    """Refuses the first `refuse` batches as the real one does before it has indexed the assignment (403)."""

    def __init__(self, refuse: int = 0, status: int = 403) -> None:
        self.refuse, self.status = refuse, status
        self.steps: list[int] = []
        self.evals: list[dict] = []
        self.calls = 0
        self.lock = threading.Lock()

    def report_progress_batch(self, job_id, points, evals=None):
        with self.lock:
            self.calls += 1
            assert len(points) <= MAX_BATCH
            if self.refuse > 0:
                self.refuse -= 1
                raise ApiError(self.status, "forbidden", "only the job's assigned provider may report for it")
            known = set(self.steps)
            self.steps.extend(s for s, _ in points if s not in known)
            self.evals.extend(evals or [])
            return {"recorded": len(points), "latest_step": self.steps[-1] if self.steps else None}


def test_refused_points_are_resent_so_the_curve_starts_at_step_one():
    api = Coordinator(refuse=3)
    with ProgressReporter(api, 7, interval_s=0.01) as rep:
        for step in range(1, 201):
            rep.report(step, 1.0 / step)
        rep.report_eval(200, 0.5, 0.9)
    assert api.steps == list(range(1, 201))  # on the old reporter, refused points were dropped
    assert api.evals == [{"step": 200, "loss": 0.5, "accuracy": 0.9}]
    assert api.calls >= 4


def test_points_the_coordinator_will_never_take_are_dropped_not_retried_forever():
    api = Coordinator(refuse=1, status=422)
    with ProgressReporter(api, 7, interval_s=0.01) as rep:
        rep.report(1, 1.0)
    assert api.steps == [] and api.calls == 1


def test_nan_losses_are_skipped_and_a_long_refusal_is_bounded():
    api = Coordinator(refuse=10**9)
    rep = ProgressReporter(api, 7, interval_s=3600, max_pending=2 * MAX_BATCH)
    for step in range(1, 10 * MAX_BATCH):
        rep.report(step, float("nan") if step == 5 else 1.0)
    pending = [s for s, _ in rep._points]
    assert len(pending) <= 2 * MAX_BATCH + 1 and 5 not in pending
    assert pending[0] == 1 and pending[-1] == 10 * MAX_BATCH - 1  # thinned in the middle, ends kept
    assert pending == sorted(pending)
    api.refuse = 0
    rep.close(timeout_s=10)
    assert api.steps == pending


def test_an_unexpected_error_does_not_kill_the_stream():
    class Flaky(Coordinator):
        def report_progress_batch(self, job_id, points, evals=None):
            if self.calls == 0:
                self.calls += 1
                raise ValueError("a bug in a client library")
            return super().report_progress_batch(job_id, points, evals)

    api = Flaky()
    with ProgressReporter(api, 7, interval_s=0.01) as rep:
        rep.report(1, 2.0)
        rep.report(2, 1.0)
    assert api.steps == [1, 2]

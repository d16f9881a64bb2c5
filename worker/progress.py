"""Streams (step, loss) to the coordinator from a background thread, so training never waits on HTTP.

Points are queued as training reports them; the thread posts them in order and drops nothing unless the
coordinator refuses (progress is advisory: a refused point is logged and skipped). `close()` flushes.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Self

from client.api import ApiError, CoordinatorClient

log = logging.getLogger("agora.worker")

_DONE = object()


class ProgressReporter:
    def __init__(self, api: CoordinatorClient, job_id: int) -> None:
        self.api = api
        self.job_id = job_id
        self.posted = 0
        self._q: queue.Queue[object] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=f"progress-{job_id}", daemon=True)
        self._thread.start()

    def report(self, step: int, loss: float) -> None:
        self._q.put((step, loss))

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is _DONE:
                return
            assert isinstance(item, tuple)
            step, loss = int(item[0]), float(item[1])
            try:
                self.api.report_progress(self.job_id, step, loss)
                self.posted += 1
            except ApiError as exc:
                log.debug("job %s: progress %d not recorded: %s", self.job_id, step, exc)

    def close(self, timeout_s: float = 30.0) -> None:
        self._q.put(_DONE)
        self._thread.join(timeout=timeout_s)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""The provider's Celery app and its one task, ``agora.worker.run_job(job_id)``.

Broker: $AGORA_BROKER_URL (default redis://127.0.0.1:6379/0); no result backend. The coordinator sends the
task to queue ``provider.<address lowercase>`` after its DB commit; this app consumes that queue (its default
queue when the provider key is in the environment). Tasks are acknowledged late and re-queued if the worker
process dies; Redis redelivers an unacknowledged task after ``visibility_timeout`` ($AGORA_VISIBILITY_TIMEOUT_S,
short on a devnet), and the job lease (worker/lease.py) keeps a redelivered copy from racing a live run.
The heartbeat and dispute-defender threads start with the worker (``worker_ready``) and stop with it.

Start it with ``agora worker start --key-file KEY`` (or ``python -m worker --key-file KEY``, or
``celery -A worker.celery_app worker --pool=solo`` with the key in $AGORA_PROVIDER_KEY[_FILE]).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery, signals
from celery.exceptions import Reject

from chain.errors import TransientChainError
from client.api import CoordinatorUnavailable
from worker.lease import LeaseBusy

log = logging.getLogger("agora.worker")

TASK_NAME = "agora.worker.run_job"

def transport_options(visibility_timeout_s: float, broker_url: str = "", broker_dir: str | None = None
                      ) -> dict[str, float | int | str]:
    """Broker transport options.

    Redis: redeliver an unacknowledged task `visibility_timeout_s` after its delivery. Kombu looks for expired
    deliveries only every interval × throttle seconds (100 s by default), so both are tied to the timeout: a
    killed worker's job is back in the queue within about 1⅓ timeouts.
    Filesystem (a devnet without Redis; $AGORA_BROKER_DIR): the same folders the coordinator writes to. That
    transport has no redelivery: a killed worker's job then waits for the coordinator's re-match.
    """
    if broker_url.startswith("filesystem://") and broker_dir:
        folder = os.path.join(broker_dir, "in")
        control = os.path.join(broker_dir, "control")  # kombu's default is ./control in the cwd
        os.makedirs(control, exist_ok=True)
        return {"data_folder_in": folder, "data_folder_out": folder,
                "processed_folder": os.path.join(broker_dir, "processed"), "control_folder": control}
    return {
        "visibility_timeout": visibility_timeout_s,
        "unacked_restore_interval": max(1, min(10, int(visibility_timeout_s // 3))),
        "unacked_restore_throttle": 1,
    }


_BROKER = os.environ.get("AGORA_BROKER_URL", "redis://127.0.0.1:6379/0")
app = Celery("agora.worker", broker=_BROKER)
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    result_backend=None,
    broker_connection_retry_on_startup=True,
    broker_transport_options=transport_options(float(os.environ.get("AGORA_VISIBILITY_TIMEOUT_S", "60")), _BROKER,
                                               os.environ.get("AGORA_BROKER_DIR")),
    worker_hijack_root_logger=False,
)


def _default_queue_from_env() -> None:
    """With the provider key in the environment, a bare `celery -A worker.celery_app worker` consumes its queue."""
    try:
        from worker.settings import WorkerSettings

        settings = WorkerSettings.from_env()
    except Exception:  # noqa: BLE001 - no key in the environment: -Q must name the queue
        return
    app.conf.task_default_queue = settings.queue


_default_queue_from_env()


@app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def run_job(self: Any, job_id: int) -> dict[str, Any]:
    """Runs (or resumes, or recognises as done) coordinator job `job_id` for this provider."""
    from worker.bootstrap import context
    from worker.heartbeat import Busy
    from worker.runner import JobNotReady, JobRunner, describe

    ctx = context()
    try:
        with Busy():
            outcome = JobRunner(ctx).run(int(job_id))
    except LeaseBusy:
        # Another live process trains this job (a redelivered copy): look again after its lease could lapse.
        raise self.retry(countdown=ctx.settings.lease_ttl_s / 2) from None
    except (JobNotReady, CoordinatorUnavailable, TransientChainError) as exc:
        log.warning("job %s: transient failure (%s); retrying", job_id, exc)
        raise self.retry(countdown=2, max_retries=30) from None
    except Exception as exc:
        log.exception("job %s failed", job_id)
        raise Reject(str(exc), requeue=False) from exc
    log.info("job %s: %s", job_id, outcome.action)
    return describe(outcome)


@signals.worker_ready.connect
def _start_services(sender: Any = None, **_: Any) -> None:
    from worker.services import start_services

    start_services()


@signals.worker_shutdown.connect
def _stop_services(sender: Any = None, **_: Any) -> None:
    from worker.services import stop_services

    stop_services()

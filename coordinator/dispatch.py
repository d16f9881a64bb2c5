"""Hands an assigned job to its provider's Celery queue (by task name: the coordinator never imports worker/)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Protocol

from celery import Celery

TASK = "agora.worker.run_job"


def provider_queue(address: str) -> str:
    return f"provider.{address.lower()}"


class Dispatcher(Protocol):
    def dispatch(self, job_id: int, provider: str) -> None: ...


class CeleryDispatcher:
    def __init__(self, broker_url: str, broker_dir: Path | None = None) -> None:
        self.broker_url = broker_url
        self.broker_dir = broker_dir

    @cached_property
    def celery_app(self) -> Celery:
        app = Celery("agora-coordinator", broker=self.broker_url)
        if self.broker_url.startswith("filesystem://") and self.broker_dir is not None:
            # kombu's filesystem transport: producers write to in/, consumers read in/ and move to processed/;
            # its exchange tables go to control/ there too (kombu's default is ./control in the cwd).
            folder = str(self.broker_dir / "in")
            (self.broker_dir / "control").mkdir(parents=True, exist_ok=True)
            app.conf.broker_transport_options = {
                "data_folder_in": folder,
                "data_folder_out": folder,
                "processed_folder": str(self.broker_dir / "processed"),
                "control_folder": str(self.broker_dir / "control"),
            }
        return app

    def dispatch(self, job_id: int, provider: str) -> None:
        self.celery_app.send_task(TASK, args=[job_id], queue=provider_queue(provider))

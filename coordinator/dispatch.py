"""Hands an assigned job to its provider's Celery queue (by task name: the coordinator never imports worker/)."""

from __future__ import annotations

from functools import cached_property
from typing import Protocol

from celery import Celery

TASK = "agora.worker.run_job"


def provider_queue(address: str) -> str:
    return f"provider.{address.lower()}"


class Dispatcher(Protocol):
    def dispatch(self, job_id: int, provider: str) -> None: ...


class CeleryDispatcher:
    def __init__(self, broker_url: str) -> None:
        self.broker_url = broker_url

    @cached_property
    def celery_app(self) -> Celery:
        return Celery("agora-coordinator", broker=self.broker_url)

    def dispatch(self, job_id: int, provider: str) -> None:
        self.celery_app.send_task(TASK, args=[job_id], queue=provider_queue(provider))

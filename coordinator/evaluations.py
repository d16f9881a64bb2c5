"""A job's held-out evaluations: what its worker reported (timeline events of kind `evaluation`), by step."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.models import JobEvent

KIND = "evaluation"


def evaluations(session: Session, job_id: int) -> list[dict[str, Any]]:
    """``[{step, loss, accuracy}]`` ordered by step, the first report of each step."""
    by_step: dict[int, dict[str, Any]] = {}
    rows = session.execute(
        select(JobEvent.data).where(JobEvent.job_id == job_id, JobEvent.kind == KIND).order_by(JobEvent.id)
    ).scalars()
    for data in rows:
        step = (data or {}).get("step")
        if isinstance(step, int) and step not in by_step:
            by_step[step] = {"step": step, "loss": data.get("loss"), "accuracy": data.get("accuracy")}
    return [by_step[s] for s in sorted(by_step)]


def final_evaluation(session: Session, job_id: int, num_steps: int) -> dict[str, Any] | None:
    """The evaluation of the final model (after the last step), if the worker reported one."""
    return next((e for e in evaluations(session, job_id) if e["step"] == num_steps), None)

"""Whether a worker's reported held-out evaluation is the one the verifier's replay computes (bit for bit).

The figure is not on-chain — only the trace root and the model hash are — so a wrong one cannot be disputed;
but the client should know whether an independent re-run got the same numbers, so the verifier says so on the
job's timeline with its verdict.
"""

from __future__ import annotations

from typing import Any

from client.api import ApiError


def evaluation_note(api: Any, job_id: int, num_steps: int, eval_loss: float | None, accuracy: float | None) -> str:
    """``"; held-out evaluation reproduced"`` / ``"; … differs …"``, or ``""`` when there is nothing to compare."""
    try:
        reported = (api.result(job_id) or {}).get("evaluation")
    except ApiError:
        return ""
    if not reported or reported.get("step") != num_steps:
        return ""
    mine = {"loss": eval_loss, "accuracy": accuracy}
    pairs = [(k, reported.get(k), mine[k]) for k in ("loss", "accuracy")
             if reported.get(k) is not None and mine[k] is not None]
    if not pairs:
        return ""
    wrong = [f"{k} reported {r!r}, re-run {m!r}" for k, r, m in pairs if r != m]
    return "; held-out evaluation differs: " + ", ".join(wrong) if wrong else "; held-out evaluation reproduced"

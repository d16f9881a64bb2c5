"""The inputs a job's spec names by hash — its dataset, and a graph job's graph and initial weights — fetched from
the coordinator for whoever runs the job (worker, verifier, referee), each checked against its name."""

from __future__ import annotations

from typing import Any

from verde.spec import JobSpec


def fetch_model_artifacts(api: Any, spec: JobSpec) -> None:
    """Hand a graph spec's graph and weights to verde (``verde.graph.store``, checked against their sha256), so
    that ``build_program(spec)`` works; already-held artifacts are not fetched again. A no-op for an MLP spec."""
    if spec.model.kind == "graph":
        from verde.graph import store

        for aid in (spec.model.graph, spec.model.weights):  # type: ignore[union-attr]
            if not store.has(aid):
                store.add(api.artifact(aid), aid)


def fetch_job_inputs(api: Any, spec: JobSpec) -> bytes | None:
    """``fetch_model_artifacts``, then the uploaded dataset's bytes (None for a built-in dataset)."""
    fetch_model_artifacts(api, spec)
    if spec.dataset.id.startswith("sha256:"):
        return bytes(api.dataset_bytes(spec.dataset.id))
    return None

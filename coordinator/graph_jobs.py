"""What the coordinator knows about a job's model before escrow: for a graph spec (v2), its artifacts exist, the
graph parses against the op allowlist, the initial weights fit it and the data fits its inputs — every check a
provider would make, made before a client pays or a provider locks collateral — and the figures the chain and
the matcher need: parameters, ops per step (the on-chain ``opsPerStep``, the same number the worker's trace
has) and the memory one step needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from coordinator.artifact_store import ArtifactStore
from coordinator.errors import Unprocessable
from verde.program import build_program
from verde.spec import GraphModelSpec, JobSpec

# Besides the activations, a step holds the parameters, their gradients and the optimizer's slots.
_STATE_COPIES = {"sgd": 2, "adam": 4, "adamw": 4}


@dataclass(frozen=True)
class ModelFacts:
    parameters: int
    ops_per_step: int
    step_bytes: int  # an upper bound on the memory one training step needs


def model_facts(spec: JobSpec, store: ArtifactStore, dataset: bytes | None = None) -> ModelFacts:
    """The model's figures, or a 422 naming the field whose artifact is missing or does not fit."""
    if not isinstance(spec.model, GraphModelSpec):
        program = build_program(spec)
        params = spec.model.parameter_count
        widest = max(spec.model.layers)
        activations = 4 * spec.dataset.batch_size * widest * len(spec.model.layers) * 2
        return ModelFacts(params, int(program.n_ops), activations + 4 * params * _copies(spec))
    return _graph_facts(spec, store, dataset)


def _copies(spec: JobSpec) -> int:
    momentum = getattr(spec.optimizer, "momentum", 0.0)
    return _STATE_COPIES[spec.optimizer.kind] + (1 if momentum else 0)


def _graph_facts(spec: JobSpec, store: ArtifactStore, dataset: bytes | None) -> ModelFacts:
    from verde.datasets import DatasetError
    from verde.graph import store as graph_store
    from verde.graph.format import GraphError, parse_graph, parse_weights

    model = spec.model
    assert isinstance(model, GraphModelSpec)
    raw: dict[str, bytes] = {}
    for field, aid in (("graph", model.graph), ("weights", model.weights)):
        digest = aid.removeprefix("sha256:")
        if not store.exists(digest):
            raise Unprocessable(
                f"model.{field} {aid} was never uploaded: upload it with POST /v1/artifacts first "
                "(`agora jobs submit` uploads the files beside the spec)",
                code="unknown_artifact",
                details=[{"field": f"body.spec.model.{field}", "message": "no such artifact"}],
            )
        raw[field] = store.path(digest).read_bytes()
    try:
        graph = parse_graph(raw["graph"])
    except GraphError as exc:
        raise Unprocessable(f"model.graph is refused: {exc}", code="invalid_graph",
                            details=[{"field": "body.spec.model.graph", "message": str(exc)}]) from None
    try:
        parse_weights(raw["weights"], graph)
    except GraphError as exc:
        raise Unprocessable(f"model.weights do not fit the graph: {exc}", code="weights_mismatch",
                            details=[{"field": "body.spec.model.weights", "message": str(exc)}]) from None
    graph_store.add(raw["graph"], model.graph)
    graph_store.add(raw["weights"], model.weights)
    try:
        program = build_program(spec)
    except GraphError as exc:
        raise Unprocessable(f"the spec does not fit its graph: {exc}", code="invalid_graph",
                            details=[{"field": "body.spec", "message": str(exc)}]) from None
    try:
        from verde.interpreter import Interpreter

        Interpreter(spec, data=dataset)  # loads the data and checks it against the graph's inputs
    except (DatasetError, GraphError) as exc:
        raise Unprocessable(
            f"dataset {spec.dataset.id} does not fit the model: {exc}",
            code="dataset_mismatch",
            details=[{"field": "body.spec.dataset.id", "message": str(exc)}],
        ) from None
    params = graph.parameter_count
    return ModelFacts(params, int(program.n_ops), graph.activation_bytes + 4 * params * _copies(spec))

"""A graph spec as a training program: one level-2 op per graph node, then Verde's optimizer ops and the state op.

``opsPerStep`` = graph nodes + optimizer ops + 1 (the ``state`` op), and op ``j <= n_nodes`` *is* graph node
``j`` (its ``kind`` the ATen overload, its ``output`` the node's name), so a dispute names the node
(``step 40, node 113 aten.convolution_backward.default``). The interpreter, trace, checkpoints, bisection and
the referee's one-op recomputation run these programs exactly as they run MLP programs.

State names: a parameter's ``state_dict`` name with ``/`` for ``.`` (``conv1/weight``), because state names
with a dot are optimizer slots (PROTOCOL §1) — slots are ``m.conv1/weight`` and so on. ``parameter_name``
maps back. The initial parameters come from the client's safetensors (the spec's ``weights``), not ``seed``.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from verde.graph import store
from verde.graph.format import Graph, GraphError, Ref, parse_graph, parse_weights
from verde.program import Op, Program, _Builder, append_optimizer, optimizer_slots
from verde.spec import GraphModelSpec, JobSpec, canonical_json, parse_spec


def state_name(parameter: str) -> str:
    return parameter.replace(".", "/")


def parameter_name(state: str) -> str:
    """The module's own ``state_dict`` name of a parameter's state name (``conv1/weight`` -> ``conv1.weight``)."""
    return state.replace("/", ".")


def load_graph(spec: JobSpec) -> Graph:
    """The spec's graph, parsed and checked against the spec (batch size)."""
    model = spec.model
    assert isinstance(model, GraphModelSpec)
    graph = _parse_cached(model.graph)
    if graph.batch_size != spec.dataset.batch_size:
        raise GraphError(f"dataset.batch_size {spec.dataset.batch_size} differs from the graph's batch of "
                         f"{graph.batch_size} (a graph is exported for one batch shape)")
    return graph


@lru_cache(maxsize=32)
def _parse_cached(aid: str) -> Graph:
    return parse_graph(store.get(aid))


def initial_parameters(spec: JobSpec) -> dict[str, torch.Tensor]:
    """The client's initial weights under state names, in graph order, checked against the graph."""
    model = spec.model
    assert isinstance(model, GraphModelSpec)
    weights = parse_weights(store.get(model.weights), load_graph(spec))
    return {state_name(k): v for k, v in weights.items()}


def check_artifacts(spec: JobSpec) -> Graph:
    """Parse and check the spec's graph and weights (raising ``GraphError``) before anything runs."""
    graph = load_graph(spec)
    initial_parameters(spec)
    return graph


def build_graph_program(spec: JobSpec) -> Program:
    return _build_cached(canonical_json(parse_spec(spec)))


@lru_cache(maxsize=32)
def _build_cached(canonical: bytes) -> Program:
    spec = parse_spec(canonical)
    graph = load_graph(spec)
    rename = {p: state_name(p) for p in graph.parameters}
    params = list(rename.values())
    b = _Builder()
    for node in graph.nodes:
        b.ops.append(Op(node.index, node.op, tuple(rename.get(r, r) for r in node.refs), node.name,
                        {"node": node}))
    grads = {rename[p]: g for p, g in graph.gradients.items()}
    append_optimizer(b, spec.optimizer, params, grads)
    return Program(spec=spec, params=tuple(params), slots=tuple(optimizer_slots(spec.optimizer, params)),
                   ops=tuple(b.ops), loss_output=graph.loss, logits_output=graph.logits, graph=graph)


def bind_args(op: Op, device: torch.device) -> tuple[list, list[tuple[int, str]], dict]:
    """A graph op's arguments with literals resolved once: ``(args, [(position, input name)], kwargs)``.

    Top-level tensor references become ``None`` placeholders filled from the environment at each call; a
    reference nested in a list (``cat``, ``index_put``) keeps its ``Ref`` and is resolved per call.
    """
    from verde.graph.format import RunDevice

    node = op.attrs["node"]
    rename = {r: n for r, n in zip(node.refs, op.inputs)}

    def lit(v: object) -> object:
        if isinstance(v, RunDevice):
            return device
        if isinstance(v, Ref):
            return Ref(rename[v.name])
        if isinstance(v, list):
            return [lit(x) for x in v]
        return v

    args = [lit(a) for a in node.args]
    slots = []
    for i, a in enumerate(args):
        if isinstance(a, Ref):
            slots.append((i, a.name))
            args[i] = None
    kwargs = {k: lit(v) for k, v in node.kwargs.items()}
    return args, slots, kwargs

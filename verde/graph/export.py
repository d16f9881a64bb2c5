"""Client-side export: an nn.Module, a loss and one example batch -> Agora's graph JSON + safetensors weights.

This runs on the client's own machine (it imports and traces the client's code) and is the only module
allowed to call ``torch.export``. The joint forward+loss+backward graph comes from
``torch.export.export`` of a wrapper that returns ``(loss, logits)`` and then
``torch.export.experimental._export_forward_backward`` (torch 2.13; the graph is core ATen, its outputs
tagged loss / user output / gradient). Attention is traced under ``SDPBackend.MATH`` so that it
decomposes into plain ops rather than a device-specific fused kernel. The optimizer is not traced: Verde
appends it from the spec (``verde.graph.program``).

The graph is specialised to the example batch's shapes: a job's ``batch_size`` must equal the example's.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from verde.graph.format import (
    FORMAT,
    GETITEM,
    VERSION,
    GraphError,
    dump_graph,
    dump_weights,
    encode_literal,
    parse_graph,
)

Loss = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class Exported:
    graph: bytes  # the graph JSON (canonical bytes)
    weights: bytes  # safetensors of the module's parameters, under their state_dict names

    def write(self, directory: str | Path, graph_name: str = "graph.json",
              weights_name: str = "weights.safetensors") -> tuple[Path, Path]:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        (d / graph_name).write_bytes(self.graph)
        (d / weights_name).write_bytes(self.weights)
        return d / graph_name, d / weights_name


class _WithLoss(nn.Module):
    def __init__(self, model: nn.Module, loss: Loss):
        super().__init__()
        self.model = model
        self.loss = loss

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        logits = self.model(x)
        return self.loss(logits, y), logits.detach()


def cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    """Mean cross-entropy over every position: (n, C) logits with (n,) labels, or (n, T, C) with (n, T)."""
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def export_model(model: nn.Module, example: tuple[Tensor, Tensor], loss: Loss = cross_entropy, *,
                 check: bool = True) -> Exported:
    """The joint training graph of ``model`` under ``loss`` for batches shaped like ``example = (x, y)``.

    ``check`` parses the result as a provider would (the allowlist included), so an unsupported op is
    reported here, on the client's machine, rather than by the coordinator.
    """
    import torch.export
    import torch.export.experimental  # registers _export_forward_backward
    from torch.nn.attention import SDPBackend, sdpa_kernel

    x, y = example
    if any(b.numel() for b in model.buffers()):
        raise GraphError("models with buffers are not supported yet (register constants as computed tensors)")
    for name, _ in model.named_parameters():
        if "/" in name:
            raise GraphError(f"parameter name {name} must not contain '/'")
    wrapper = _WithLoss(model, loss)
    was_training = model.training
    model.train()
    try:
        with sdpa_kernel([SDPBackend.MATH]):
            ep = torch.export.export(wrapper, (x, y))
            joint = torch.export.experimental._export_forward_backward(ep)
    finally:
        model.train(was_training)
    doc = _document(joint, model)
    graph = dump_graph(doc)
    weights = dump_weights(dict(model.state_dict()))
    if check:
        parse_graph(graph)
    return Exported(graph, weights)


def _strip(target: str) -> str:
    return target.removeprefix("model.")


def _document(joint: Any, model: nn.Module) -> dict[str, Any]:
    from torch.export.graph_signature import InputKind, OutputKind

    sig = joint.graph_signature
    rename: dict[str, str] = {}  # fx node name -> our reference name
    batch = iter(("x", "y"))
    for spec in sig.input_specs:
        if spec.kind == InputKind.PARAMETER:
            rename[spec.arg.name] = _strip(spec.target)
        elif spec.kind == InputKind.USER_INPUT:
            rename[spec.arg.name] = next(batch)
        else:
            raise GraphError(f"graph input {spec.arg.name} of kind {spec.kind.name} is not supported")
    loss_name = logits_name = None
    grads: dict[str, str] = {}
    for spec in sig.output_specs:
        if spec.kind == OutputKind.LOSS_OUTPUT:
            loss_name = spec.arg.name
        elif spec.kind == OutputKind.USER_OUTPUT:
            logits_name = spec.arg.name
        elif spec.kind == OutputKind.GRADIENT_TO_PARAMETER:
            grads[_strip(spec.target)] = spec.arg.name
        else:
            raise GraphError(f"graph output {spec.arg.name} of kind {spec.kind.name} is not supported")

    taken = set(rename.values())
    params = dict(model.named_parameters())
    inputs: list[dict[str, Any]] = []
    nodes: list[dict[str, Any]] = []
    for node in joint.graph.nodes:
        if node.op == "placeholder":
            val = node.meta["val"]
            name = rename[node.name]
            if name in ("x", "y"):
                inputs.append({"name": name, "shape": list(val.shape), "dtype": _dtype(val.dtype, name)})
            continue
        if node.op == "output":
            continue
        if node.op != "call_function":
            raise GraphError(f"node {node.name}: {node.op} nodes are not supported")
        if node.name in taken:
            raise GraphError(f"node name {node.name} collides with an input name")
        rename[node.name] = node.name
        op = GETITEM if node.target is operator.getitem else str(node.target)
        entry: dict[str, Any] = {
            "name": node.name,
            "op": op,
            "args": [_arg(a, rename) for a in node.args],
            "kwargs": {k: _arg(v, rename) for k, v in node.kwargs.items()},
        }
        val = node.meta.get("val")
        if isinstance(val, (tuple, list)):
            entry["outs"] = [None if v is None else _tensor(v, node.name) for v in val]
        else:
            entry["out"] = _tensor(val, node.name)
        nodes.append(entry)
    if loss_name is None:
        raise GraphError("the traced graph has no loss output")
    return {
        "format": FORMAT,
        "version": VERSION,
        "parameters": [{"name": n, "shape": list(p.shape), "dtype": _dtype(p.dtype, n)} for n, p in params.items()],
        "inputs": inputs,
        "nodes": nodes,
        "outputs": {"loss": loss_name, "gradients": {n: grads[n] for n in params},
                    **({"logits": logits_name} if logits_name else {})},
    }


def _arg(value: Any, rename: dict[str, str]) -> Any:
    import torch.fx

    if isinstance(value, torch.fx.Node):
        return {"ref": rename[value.name]}
    if isinstance(value, (list, tuple)):
        return [_arg(v, rename) for v in value]
    return encode_literal(value)


def _dtype(dtype: torch.dtype, where: str) -> str:
    from verde.graph.format import DTYPE_NAMES

    if dtype not in DTYPE_NAMES:
        raise GraphError(f"{where}: dtype {dtype} is not supported")
    return DTYPE_NAMES[dtype]


def _tensor(val: Any, where: str) -> dict[str, Any]:
    if not isinstance(val, torch.Tensor):
        raise GraphError(f"node {where}: output {type(val).__name__} is not a tensor")
    return {"shape": [int(s) for s in val.shape], "dtype": _dtype(val.dtype, where)}

"""What one training step of a graph costs in floating-point operations, from the shapes its nodes declare.

Matrix products and convolutions dominate and are counted exactly as multiply-adds × 2 (a convolution's
backward as the products it needs: the input gradient when asked for, and the weight gradient); every other
node is counted as one operation per output element. It is the figure `agora jobs estimate` prints, for a
client to compare jobs and for a provider to price them — the interpreter never depends on it.
"""

from __future__ import annotations

import math
from typing import Any

from verde.graph.format import Graph, Node, Ref, TensorSpec

_MATMULS = {"aten.mm.default", "aten.addmm.default", "aten.bmm.default"}


def step_flops(graph: Graph) -> int:
    """Floating-point operations of one forward + loss + backward step (the optimizer adds a few per parameter)."""
    shapes: dict[str, tuple[int, ...]] = {n: s.shape for n, s in graph.parameters.items()}
    shapes.update({n: s.shape for n, s in graph.inputs.items()})
    total = 0
    for node in graph.nodes:
        if isinstance(node.out, TensorSpec):
            shapes[node.name] = node.out.shape
        total += _node_flops(node, shapes)
    return total


def _shape(arg: Any, shapes: dict[str, tuple[int, ...]]) -> tuple[int, ...] | None:
    return shapes.get(arg.name) if isinstance(arg, Ref) else None


def _node_flops(node: Node, shapes: dict[str, tuple[int, ...]]) -> int:
    outs = [node.out] if isinstance(node.out, TensorSpec) else [o for o in node.out if o is not None]
    elements = sum(o.numel for o in outs)
    if node.op in _MATMULS:
        a = _shape(node.args[1 if node.op == "aten.addmm.default" else 0], shapes)
        if a is not None and outs:
            return 2 * outs[0].numel * a[-1] + (outs[0].numel if node.op == "aten.addmm.default" else 0)
    if node.op == "aten.convolution.default":
        w = _shape(node.args[1], shapes)
        if w is not None and outs:
            return 2 * outs[0].numel * math.prod(w[1:])
    if node.op == "aten.convolution_backward.default":
        grad, w = _shape(node.args[0], shapes), _shape(node.args[2], shapes)
        if grad is not None and w is not None:
            per_product = 2 * math.prod(grad) * math.prod(w[1:])
            wanted = node.args[-1] if isinstance(node.args[-1], (list, tuple)) else [True, True, True]
            return per_product * (int(bool(wanted[0])) + int(bool(wanted[1]))) + math.prod(grad)
    return elements

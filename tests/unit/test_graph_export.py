"""verde.graph.export: the joint training graph of a module, exported on the client's machine — the checked-in CNN
artifacts are exactly what its model.py exports today, and what the format cannot hold is refused at export."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from torch import nn

from verde.graph.export import export_model
from verde.graph.format import GraphError, parse_graph

CNN = Path(__file__).resolve().parents[2] / "examples" / "digits-cnn"


def test_checked_in_cnn_artifacts_are_a_fresh_export():
    loaded = importlib.util.spec_from_file_location("digits_cnn_model", CNN / "model.py")
    mod = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(mod)
    exported = export_model(mod.build(), mod.example_batch())
    assert exported.graph == (CNN / "graph.json").read_bytes(), "re-run examples/digits-cnn/export.py"
    assert exported.weights == (CNN / "weights.safetensors").read_bytes()
    graph = parse_graph(exported.graph)
    ops = {n.op for n in graph.nodes}
    assert {"aten.convolution.default", "aten.convolution_backward.default", "getitem"} <= ops
    assert graph.logits is not None and graph.node(graph.logits).out.shape == (32, 10)


class WithBuffer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.register_buffer("scale", torch.ones(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x * self.scale)


class Cumulative(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x).cumsum(dim=1)


def test_what_the_format_cannot_hold_is_refused_at_export():
    batch = (torch.zeros(8, 4), torch.zeros(8, dtype=torch.int64))
    with pytest.raises(GraphError, match="buffers are not supported"):
        export_model(WithBuffer(), batch)
    with pytest.raises(GraphError, match="aten.cumsum.default' is not allowed"):
        export_model(Cumulative(), batch)

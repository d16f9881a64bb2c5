"""`agora.model_export`: a client's module becomes graph.json + weights.safetensors under its own parameter names;
a model with an op providers cannot run, or a bad factory or example, is refused in one line."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from agora.model_export import ExportError, export, load_example, load_factory


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Cumulative(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x).cumsum(dim=1)  # aten.cumsum has no RepOps kernel


def test_export_writes_the_graph_and_weights_under_the_modules_own_names(tmp_path: Path):
    torch.manual_seed(0)
    model = Tiny()
    summary = export(model, (torch.zeros(8, 4), torch.zeros(8, dtype=torch.int64)), tmp_path / "model")
    assert summary.graph_path.read_bytes() and summary.weights_path.exists()
    assert summary.graph_id == "sha256:" + hashlib.sha256(summary.graph_path.read_bytes()).hexdigest()
    assert summary.weights_id == "sha256:" + hashlib.sha256(summary.weights_path.read_bytes()).hexdigest()
    assert summary.parameters == 4 * 8 + 8 + 8 * 3 + 3 and summary.batch_size == 8 and summary.nodes > 5
    weights = load_file(str(summary.weights_path))
    fresh = Tiny()
    fresh.load_state_dict(weights)  # the module's own names: load_state_dict just works
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in model.state_dict().items())
    assert summary.model_section == {"kind": "graph", "graph": summary.graph_id, "weights": summary.weights_id}


def test_a_model_with_an_op_providers_cannot_run_is_refused_here(tmp_path: Path):
    with pytest.raises(ExportError, match="cumsum") as err:
        export(Cumulative(), (torch.zeros(8, 4), torch.zeros(8, dtype=torch.int64)), tmp_path)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "graph.json").exists()


def test_factories_and_examples_are_checked(tmp_path: Path):
    module = tmp_path / "mymodel.py"
    module.write_text("import torch\n\ndef build():\n    return torch.nn.Linear(4, 3)\n")
    assert isinstance(load_factory(f"{module}:build")(), nn.Linear)
    for ref, message in [("mymodel.py", "MODULE.py:FACTORY"), (f"{tmp_path}/nope.py:build", "no such file"),
                         (f"{module}:missing", "no callable missing")]:
        with pytest.raises(ExportError, match=message):
            load_factory(ref)
    np.savez(tmp_path / "b.npz", x=np.zeros((10, 4)), y=np.arange(10) % 3)
    x, y = load_example(tmp_path / "b.npz", batch_size=6)
    assert x.shape == (6, 4) and x.dtype == torch.float32 and y.dtype == torch.int64
    with pytest.raises(ExportError, match="more than the 10 rows"):
        load_example(tmp_path / "b.npz", batch_size=11)
    with pytest.raises(ExportError, match="cannot read"):
        load_example(tmp_path / "missing.npz")

"""Export a client's PyTorch model for Agora, on the client's own machine: the function behind `agora model export`.

From a notebook::

    from agora.model_export import export
    summary = export(model, (x, y), "model/")             # writes model/graph.json, model/weights.safetensors
    spec["model"] = summary.model_section                  # {"kind": "graph", "graph": "sha256:…", "weights": …}

This imports and traces the client's code, which is fine here (it is the client's machine); providers only ever
parse the JSON graph and the safetensors weights it writes (verde.graph.format), never code or pickles.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

GRAPH_FILE = "graph.json"
WEIGHTS_FILE = "weights.safetensors"


class ExportError(ValueError):
    """The model, its factory or its example batch cannot be exported; the message says why in one line."""


@dataclass(frozen=True)
class ExportSummary:
    graph_path: Path
    weights_path: Path
    graph_id: str  # sha256:<hex> of graph.json: what a spec's model.graph names
    weights_id: str
    nodes: int
    parameters: int
    batch_size: int
    activation_bytes: int  # every node output of one step together: the memory a step needs, at most

    @property
    def model_section(self) -> dict[str, str]:
        return {"kind": "graph", "graph": self.graph_id, "weights": self.weights_id}

    def to_json(self) -> dict[str, Any]:
        return {"graph": str(self.graph_path), "weights": str(self.weights_path), "model": self.model_section,
                "nodes": self.nodes, "parameters": self.parameters, "batch_size": self.batch_size,
                "activation_bytes": self.activation_bytes}


def _mse(logits: Tensor, y: Tensor) -> Tensor:
    return nn.functional.mse_loss(logits, y)


def loss_function(name: str) -> Callable[[Tensor, Tensor], Tensor]:
    """The loss a spec's `loss` field names, as the graph traces it."""
    from verde.graph.export import cross_entropy

    known = {"cross_entropy": cross_entropy, "mse": _mse}
    if name not in known:
        raise ExportError(f"unknown loss {name!r}: use cross_entropy or mse")
    return known[name]


def export(model: nn.Module, example: tuple[Tensor, Tensor], out_dir: str | Path, *,
           loss: str = "cross_entropy") -> ExportSummary:
    """Trace ``model`` under ``loss`` for batches shaped like ``example = (x, y)`` and write the graph and the
    initial weights (the model's current parameters, under its own state_dict names) into ``out_dir``."""
    from verde.graph.export import export_model
    from verde.graph.format import GraphError, parse_graph

    if not isinstance(model, nn.Module):
        raise ExportError(f"expected a torch.nn.Module, got {type(model).__name__}")
    try:
        with warnings.catch_warnings():  # torch.export's own deprecation chatter is not the client's business
            warnings.simplefilter("ignore", FutureWarning)
            exported = export_model(model, example, loss_function(loss))
        graph = parse_graph(exported.graph)  # as a provider will: the allowlist and every bound
    except GraphError as exc:
        raise ExportError(f"the model cannot run on Agora: {exc}") from None
    graph_path, weights_path = exported.write(out_dir, GRAPH_FILE, WEIGHTS_FILE)
    return ExportSummary(
        graph_path=graph_path, weights_path=weights_path,
        graph_id="sha256:" + hashlib.sha256(exported.graph).hexdigest(),
        weights_id="sha256:" + hashlib.sha256(exported.weights).hexdigest(),
        nodes=graph.n_nodes, parameters=graph.parameter_count, batch_size=graph.batch_size,
        activation_bytes=graph.activation_bytes,
    )


def load_factory(ref: str) -> Callable[[], Any]:
    """``path/to/module.py:factory`` or ``package.module:factory`` -> the callable (imports the client's code)."""
    module_ref, sep, attr = ref.rpartition(":")
    if not sep or not module_ref or not attr:
        raise ExportError(f"{ref!r}: expected MODULE.py:FACTORY, e.g. model.py:build")
    if module_ref.endswith(".py") or "/" in module_ref:
        path = Path(module_ref)
        if not path.is_file():
            raise ExportError(f"{module_ref}: no such file")
        # the module's own folder first, so that it can import its neighbours as it would when run directly
        sys.path.insert(0, str(path.resolve().parent))
        spec = importlib.util.spec_from_file_location(f"agora_user_model_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(module_ref)
        except ImportError as exc:
            raise ExportError(f"cannot import {module_ref}: {exc}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ExportError(f"{module_ref} has no callable {attr}")
    return factory  # type: ignore[no-any-return]


def load_example(path: str | Path, batch_size: int | None = None) -> tuple[Tensor, Tensor]:
    """The example batch ``(x, y)`` from an .npz or safetensors file with arrays x and y (the first
    ``batch_size`` rows when given): float inputs as float32, integer ones as int64."""
    from verde.tensorfile import TensorFileError, read_arrays

    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ExportError(f"cannot read {path} ({exc.strerror})") from None
    try:
        _, arrays = read_arrays(raw)
    except TensorFileError as exc:
        raise ExportError(f"{path}: {exc}") from None
    if "x" not in arrays or "y" not in arrays:
        raise ExportError(f"{path} needs arrays x and y (one example batch), has {', '.join(sorted(arrays))}")
    x, y = arrays["x"], arrays["y"]
    if batch_size is not None:
        if batch_size > x.shape[0]:
            raise ExportError(f"--batch-size {batch_size} is more than the {x.shape[0]} rows of {path}")
        x, y = x[:batch_size], y[:batch_size]
    return _tensor(x), _tensor(y)


def _tensor(a: np.ndarray) -> Tensor:
    if a.dtype.kind == "f":
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    if a.dtype.kind in "iu":
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64))
    raise ExportError(f"example arrays must be float or integer, got {a.dtype}")

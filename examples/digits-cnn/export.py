"""Re-export the CNN: writes graph.json and weights.safetensors beside this file and points spec.json at them.

    .venv/bin/python examples/digits-cnn/export.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from model import build, example_batch

from verde.graph.export import export_model
from verde.graph.store import artifact_id

exported = export_model(build(), example_batch())
exported.write(HERE)
spec_path = HERE / "spec.json"
spec = json.loads(spec_path.read_text())
spec["model"] = {"kind": "graph", "graph": artifact_id(exported.graph), "weights": artifact_id(exported.weights)}
spec_path.write_text(json.dumps(spec, indent=2) + "\n")
print(f"graph {spec['model']['graph']} ({len(exported.graph)} bytes), weights {spec['model']['weights']}")

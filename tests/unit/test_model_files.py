"""A downloaded graph model loads into the client's own module: safetensors under its state_dict names."""

from __future__ import annotations

import torch
from safetensors.torch import load
from torch import nn

from agora.model_files import checkpoint_to_safetensors
from verde.checkpoint import dump_state


def test_graph_state_names_become_the_modules_names():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 6 * 6, 3))
    # what a worker uploads for a graph job: state names with '/' for '.'
    state = {k.replace(".", "/"): v.detach().clone() for k, v in model.state_dict().items()}
    out = load(checkpoint_to_safetensors(dump_state(state, 10)))
    fresh = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 6 * 6, 3))
    fresh.load_state_dict(out)
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in model.state_dict().items())

"""The digits CNN: 8x8 grey images -> conv 3x3 (8) -> ReLU -> strided conv 3x3 (16) -> ReLU -> linear (10)."""

from __future__ import annotations

import torch
from torch import nn


class DigitsCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)  # 8x8 -> 4x4: the strided conv is the pooling
        self.fc = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        return self.fc(x.flatten(1))


BATCH = 32


def build() -> DigitsCNN:
    """The model with its initial weights (seed 0): what graph.json / weights.safetensors were exported from."""
    torch.manual_seed(0)
    return DigitsCNN()


def example_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """A batch shaped like a training batch (the graph is exported for this shape)."""
    return torch.zeros(BATCH, 1, 8, 8), torch.zeros(BATCH, dtype=torch.int64)

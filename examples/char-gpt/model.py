"""A character-level GPT: token + position embeddings, 2 pre-LayerNorm blocks of causal self-attention and a GELU
MLP, a final LayerNorm and an untied linear head over the 96 characters of ``corpus.VOCAB``."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

VOCAB = 96  # printable ASCII and newline (corpus.py)
CONTEXT = 32
WIDTH = 64
HEADS = 4
LAYERS = 2
BATCH = 16


class Block(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.ln2 = nn.LayerNorm(width)
        self.fc = nn.Linear(width, 4 * width)
        self.out = nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, c))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class CharGPT(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.tok = nn.Embedding(VOCAB, WIDTH)
        self.pos = nn.Embedding(CONTEXT, WIDTH)
        self.blocks = nn.ModuleList(Block(WIDTH, HEADS) for _ in range(LAYERS))
        self.ln = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, VOCAB)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        # the whole position table, broadcast over the batch: sequences are always CONTEXT long, and the graph
        # then has neither a position buffer nor a slice whose backward is a scatter
        h = self.tok(idx) + self.pos.weight
        for block in self.blocks:
            h = block(h)
        return self.head(self.ln(h))


def build() -> CharGPT:
    """The model with its initial weights (seed 0): what graph.json / weights.safetensors were exported from."""
    torch.manual_seed(0)
    return CharGPT()


def example_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """A batch shaped like a training batch: token ids and next-token targets, both (BATCH, CONTEXT) int64."""
    return torch.zeros(BATCH, CONTEXT, dtype=torch.int64), torch.zeros(BATCH, CONTEXT, dtype=torch.int64)

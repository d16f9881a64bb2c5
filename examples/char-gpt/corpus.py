"""Builds data.npz, the training text as token windows, from Python's own documentation (no download).

The text is ``pydoc_data/topics.py`` of the Python standard library (the help() topics: the language
reference in plain text; PSF License Agreement v2): the topics in sorted order, concatenated, reduced to
``VOCAB`` (printable ASCII and newline; other characters dropped), the first ``CHARS`` characters. Windows of
``CONTEXT + 1`` characters every ``CONTEXT`` give ``x`` (the first ``CONTEXT``) and ``y`` (the next-token
targets: the last ``CONTEXT``); the last ``HELD_OUT`` windows are the held-out split (``x_test``/``y_test``: a
stretch of text the model never trains on). All as int32: token ids in the documented dataset format (docs/SPEC.md
"Datasets": int32 or int64), so that `agora jobs submit` can upload the file as it is. The file is checked in, so
a run does not depend on the Python version installed.

    .venv/bin/python examples/char-gpt/corpus.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

VOCAB = "\n" + "".join(chr(c) for c in range(32, 127))
CHARS = 160_000
CONTEXT = 32
HELD_OUT = 256


def text() -> str:
    from pydoc_data import topics

    raw = "".join(topics.topics[k] for k in sorted(topics.topics))
    return "".join(ch for ch in raw if ch in VOCAB)[:CHARS]


def encode(s: str) -> np.ndarray:
    index = {ch: i for i, ch in enumerate(VOCAB)}
    return np.array([index[ch] for ch in s], dtype=np.int32)


def decode(tokens: np.ndarray) -> str:
    return "".join(VOCAB[int(t)] for t in tokens)


def windows(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = (len(tokens) - 1) // CONTEXT
    idx = np.arange(n)[:, None] * CONTEXT + np.arange(CONTEXT + 1)[None, :]
    w = tokens[idx]
    return w[:, :-1], w[:, 1:]


if __name__ == "__main__":
    t = text()
    assert len(t) == CHARS, f"only {len(t)} characters"
    x, y = windows(encode(t))
    out = Path(__file__).resolve().parent / "data.npz"
    n = x.shape[0] - HELD_OUT
    np.savez_compressed(out, x=x[:n], y=y[:n], x_test=x[n:], y_test=y[n:])
    print(f"{len(t)} characters -> {n} + {HELD_OUT} held-out windows of {CONTEXT}; {out.stat().st_size} bytes")

"""The artifacts a graph spec names (graph, weights, data), held by content hash for this process.

A v2 spec names its graph and weights by ``sha256:<hex>`` only, so that ``specHash`` fixes them. Whoever runs
a spec (the CLI, a worker, the verifier, the referee) first hands the bytes in here — from files beside the
spec, an upload, a download — and every later ``build_program(spec)`` finds them by hash. Bytes are checked
against their name when they come in, so nothing here can be swapped for something else.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from verde.graph.format import GraphError

MAX_ARTIFACT_BYTES = 256 * 2**20
_ARTIFACTS: dict[str, bytes] = {}


def artifact_id(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def add(raw: bytes, expected: str | None = None) -> str:
    """Keep ``raw`` under its content id (checked against ``expected`` when given); returns the id."""
    aid = artifact_id(raw)
    if expected is not None and aid != expected:
        raise GraphError(f"artifact hashes to {aid}, not {expected}")
    _ARTIFACTS[aid] = raw
    return aid


def get(aid: str) -> bytes:
    try:
        return _ARTIFACTS[aid]
    except KeyError:
        raise GraphError(f"artifact {aid} is not available here (hand its bytes to verde.graph.store.add)") from None


def has(aid: str) -> bool:
    return aid in _ARTIFACTS


def add_directory(directory: str | Path, max_files: int = 64) -> list[str]:
    """Every regular file directly in ``directory`` (a spec's own folder), by content; returns their ids."""
    ids = []
    files = sorted(p for p in Path(directory).iterdir() if p.is_file() and p.stat().st_size <= MAX_ARTIFACT_BYTES)
    for path in files[:max_files]:
        ids.append(add(path.read_bytes()))
    return ids

"""A provider's local record of each job it runs: the spec, its checkpoints and a manifest, under one folder.

``<root>/<chain id>-<market address>/<chain job id>/`` holds ``spec.json`` (the canonical bytes),
``ckpt-<step>.pt`` (``verde.checkpoint`` format) and ``manifest.json``: which checkpoints exist (leaf and
artifact id), the submitted result and the fault the run used. Every worker process of one provider on one
machine shares the root, so a redelivered job resumes from the last checkpoint another process wrote, and
the dispute defender rebuilds the trace from the same files. Writes are atomic (temp file + rename).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from verde.checkpoint import State, dump_state, load_state

DEFAULT_ROOT = Path("~/.agora/worker").expanduser()


@dataclass
class CheckpointEntry:
    step: int
    leaf: str  # 0x hex H(state)
    artifact: str | None = None  # sha256 hex in the artifact store, once uploaded


@dataclass
class Manifest:
    chain_job_id: int
    coordinator_job_id: int | None = None
    spec_hash: str = ""
    fault: str | None = None
    checkpoints: dict[int, CheckpointEntry] = field(default_factory=dict)
    trace_root: str | None = None
    final_model_hash: str | None = None
    fake_seed: str | None = None  # wrong-final: what the fake hashes derive from
    model_artifact: str | None = None
    submitted: bool = False
    artifacts_registered: bool = False

    def to_json(self) -> dict:
        d = asdict(self)
        d["checkpoints"] = {str(k): asdict(v) for k, v in self.checkpoints.items()}
        return d

    @classmethod
    def from_json(cls, d: dict) -> Manifest:
        cps = {int(k): CheckpointEntry(**v) for k, v in d.pop("checkpoints", {}).items()}
        return cls(checkpoints=cps, **d)


class JobWorkspace:
    """The folder of one job."""

    def __init__(self, root: Path, market_key: str, chain_job_id: int) -> None:
        self.dir = Path(root).expanduser() / market_key / str(chain_job_id)
        self.chain_job_id = chain_job_id

    @property
    def exists(self) -> bool:
        return (self.dir / "manifest.json").exists()

    def manifest(self) -> Manifest:
        path = self.dir / "manifest.json"
        if not path.exists():
            return Manifest(chain_job_id=self.chain_job_id)
        return Manifest.from_json(json.loads(path.read_text()))

    def save(self, manifest: Manifest) -> None:
        self._write(self.dir / "manifest.json", json.dumps(manifest.to_json(), indent=1).encode())

    def write_spec(self, data: bytes) -> None:
        self._write(self.dir / "spec.json", data)

    def spec_bytes(self) -> bytes:
        return (self.dir / "spec.json").read_bytes()

    def checkpoint_path(self, step: int) -> Path:
        return self.dir / f"ckpt-{step}.pt"

    def write_checkpoint(self, step: int, state: State) -> bytes:
        data = dump_state(state, step)
        self._write(self.checkpoint_path(step), data)
        return data

    def load_checkpoint(self, step: int) -> State:
        return load_state(self.checkpoint_path(step).read_bytes()).state

    def has_checkpoint(self, step: int) -> bool:
        return self.checkpoint_path(step).exists()

    def _write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)


def market_key(chain_id: int, market_address: str) -> str:
    """Folder name separating deployments (a fresh devnet reuses job ids)."""
    return f"{chain_id}-{market_address.lower()}"

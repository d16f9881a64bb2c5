"""The files a job spec names, found beside it and uploaded before the job is created (`agora jobs submit`).

A spec names its graph, initial weights and uploaded dataset by ``sha256:<hex>`` only, so that ``specHash``
fixes their bytes. The files themselves sit beside the spec (``agora model export -o DIR`` writes them there;
``--artifacts DIR`` adds other folders) and are found by content, as ``agora verde run`` finds them. Uploads
are content-addressed: a file the coordinator already holds is not sent again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_FILE_BYTES = 256 * 2**20
MAX_FILES_SCANNED = 256


class ArtifactNotFound(LookupError):
    """A spec names an artifact no file here hashes to; the message names the field and where it looked."""


@dataclass(frozen=True)
class NamedArtifact:
    field: str  # where the spec names it: model.graph, model.weights, dataset.id
    id: str  # sha256:<hex>
    kind: str  # graph, weights, dataset


def named_artifacts(spec: dict[str, Any]) -> list[NamedArtifact]:
    """Every uploaded artifact a (validated) spec names, in a fixed order."""
    found: list[NamedArtifact] = []
    model = spec.get("model") or {}
    if model.get("kind") == "graph":
        found.append(NamedArtifact("model.graph", model["graph"], "graph"))
        found.append(NamedArtifact("model.weights", model["weights"], "weights"))
    ds = (spec.get("dataset") or {}).get("id", "")
    if ds.startswith("sha256:"):
        found.append(NamedArtifact("dataset.id", ds, "dataset"))
    return found


def index_files(folders: Iterable[Path]) -> dict[str, Path]:
    """sha256 id -> file, for the regular files directly in ``folders`` (bounded in number and size)."""
    index: dict[str, Path] = {}
    scanned = 0
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if scanned >= MAX_FILES_SCANNED:
                return index
            if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
                continue
            scanned += 1
            index.setdefault("sha256:" + hashlib.sha256(path.read_bytes()).hexdigest(), path)
    return index


def locate(spec: dict[str, Any], folders: list[Path]) -> dict[NamedArtifact, Path | None]:
    """Each named artifact and the local file holding it (None when no file here hashes to it)."""
    named = named_artifacts(spec)
    index = index_files(folders) if named else {}
    return {a: index.get(a.id) for a in named}


def upload_missing(api: Any, spec: dict[str, Any], folders: list[Path]) -> list[tuple[NamedArtifact, str]]:
    """Upload every artifact the coordinator lacks; returns ``(artifact, "uploaded" | "already there")``.
    Raises ``ArtifactNotFound`` (nothing created) when one is neither there nor in ``folders``."""
    done: list[tuple[NamedArtifact, str]] = []
    for artifact, path in locate(spec, folders).items():
        if api.has_artifact(artifact.id):
            done.append((artifact, "already there"))
            continue
        if path is None:
            where = ", ".join(str(f) for f in folders)
            raise ArtifactNotFound(
                f"{artifact.field} names {artifact.id}, which the coordinator does not have and no file in "
                f"{where} hashes to: put the file beside the spec (or pass --artifacts DIR)")
        data = path.read_bytes()
        if artifact.kind == "dataset":
            api.upload_dataset(data)
        else:
            api.upload_artifact(data, kind=artifact.kind)
        done.append((artifact, f"uploaded {path.name}"))
    return done

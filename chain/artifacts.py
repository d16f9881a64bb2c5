"""Loads the checked-in compiled contracts (chain/artifacts/*.json): the only place Python gets ABIs from."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ARTIFACT_DIR = Path(__file__).resolve().parent / "artifacts"


class ArtifactNotFound(LookupError):
    """No artifact of that name: the contract does not exist or `agora contracts compile` was not run."""


@dataclass(frozen=True)
class Artifact:
    """One compiled contract."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    source_hash: str
    compiler_version: str

    def errors(self) -> list[dict[str, Any]]:
        return [e for e in self.abi if e.get("type") == "error"]

    def events(self) -> list[dict[str, Any]]:
        return [e for e in self.abi if e.get("type") == "event"]

    def constructor_inputs(self) -> list[dict[str, Any]]:
        for e in self.abi:
            if e.get("type") == "constructor":
                return list(e.get("inputs", []))
        return []


@cache
def load(name: str) -> Artifact:
    """The artifact of contract `name` (e.g. "JobMarket")."""
    path = ARTIFACT_DIR / f"{name}.json"
    if not path.exists():
        raise ArtifactNotFound(f"no artifact {path.name} in {ARTIFACT_DIR}: run `agora contracts compile`")
    raw = json.loads(path.read_text())
    return Artifact(
        name=raw["contractName"],
        abi=raw["abi"],
        bytecode=raw["bytecode"],
        deployed_bytecode=raw["deployedBytecode"],
        source_hash=raw["sourceHash"],
        compiler_version=raw["compiler"]["version"],
    )


def exists(name: str) -> bool:
    return (ARTIFACT_DIR / f"{name}.json").exists()


def names() -> list[str]:
    """Every artifact's contract name, sorted."""
    return sorted(p.stem for p in ARTIFACT_DIR.glob("*.json"))


def load_all() -> dict[str, Artifact]:
    return {n: load(n) for n in names()}

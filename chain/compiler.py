"""Compiles contracts/src with the pinned solc (py-solc-x) into the checked-in chain/artifacts/<Contract>.json.

Run `python -m chain.compiler` or `agora contracts compile` after changing any .sol file; the unit test
tests/unit/test_artifacts.py fails while the artifacts are stale (it recomputes `source_hash()` only).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
SRC_DIR = REPO_ROOT / "contracts" / "src"
ARTIFACT_DIR = Path(__file__).resolve().parent / "artifacts"
SOLC_FRONT = REPO_ROOT / "tools" / "solc"
FOUNDRY_TOML = REPO_ROOT / "foundry.toml"
PACKAGE_JSON = REPO_ROOT / "package.json"


class CompileError(Exception):
    """solc reported errors (the message holds solc's formatted output)."""


@dataclass(frozen=True)
class CompilerConfig:
    """What decides the bytecode besides the sources: pinned versions and foundry.toml's optimizer settings."""

    solc_version: str
    openzeppelin_version: str
    optimizer_runs: int
    optimizer_enabled: bool
    evm_version: str
    via_ir: bool
    remappings: tuple[str, ...]

    def solc_settings(self) -> dict[str, Any]:
        return {
            "optimizer": {"enabled": self.optimizer_enabled, "runs": self.optimizer_runs},
            "evmVersion": self.evm_version,
            "viaIR": self.via_ir,
            "remappings": list(self.remappings),
            "outputSelection": {
                "*": {
                    "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"],
                    "": ["ast"],
                }
            },
        }

    def fingerprint(self) -> dict[str, Any]:
        return {
            "solc": self.solc_version,
            "openzeppelin": self.openzeppelin_version,
            "optimizer": {"enabled": self.optimizer_enabled, "runs": self.optimizer_runs},
            "evmVersion": self.evm_version,
            "viaIR": self.via_ir,
            "remappings": list(self.remappings),
        }


def load_config() -> CompilerConfig:
    """Reads foundry.toml (so forge and Python build the same bytecode) and package.json's pinned versions."""
    foundry = tomllib.loads(FOUNDRY_TOML.read_text())["profile"]["default"]
    deps = json.loads(PACKAGE_JSON.read_text())["dependencies"]
    return CompilerConfig(
        solc_version=str(deps["solc"]),
        openzeppelin_version=str(deps.get("@openzeppelin/contracts", "")),
        optimizer_runs=int(foundry.get("optimizer_runs", 200)),
        optimizer_enabled=bool(foundry.get("optimizer", True)),
        evm_version=str(foundry.get("evm_version", "cancun")),
        via_ir=bool(foundry.get("via_ir", False)),
        remappings=tuple(foundry.get("remappings", ["@openzeppelin/=node_modules/@openzeppelin/"])),
    )


def source_files() -> list[Path]:
    return sorted(SRC_DIR.rglob("*.sol"))


def source_hash(config: CompilerConfig | None = None) -> str:
    """sha256 over every contracts/src source (sorted path + contents) and the compiler fingerprint."""
    config = config or load_config()
    h = hashlib.sha256()
    for path in source_files():
        rel = path.relative_to(REPO_ROOT).as_posix().encode()
        data = path.read_bytes()
        h.update(len(rel).to_bytes(4, "big") + rel + len(data).to_bytes(8, "big") + data)
    h.update(json.dumps(config.fingerprint(), sort_keys=True).encode())
    return h.hexdigest()


def _binary_version(binary: str | Path) -> str | None:
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"Version:\s*(\d+\.\d+\.\d+)", out)
    return m.group(1) if m else None


def find_solc(config: CompilerConfig) -> Path:
    """A native `solc` on PATH when it is the pinned version (fast), else the offline solcjs front tools/solc."""
    native = shutil.which("solc")
    if native and _binary_version(native) == config.solc_version:
        return Path(native)
    if _binary_version(SOLC_FRONT) != config.solc_version:
        raise CompileError(f"{SOLC_FRONT} does not answer version {config.solc_version}: run `npm ci`")
    return SOLC_FRONT


def compile_sources(config: CompilerConfig | None = None) -> dict[str, dict[str, Any]]:
    """Compiles every contracts/src source; returns {contract name: artifact dict} for deployable contracts."""
    import solcx  # imported here so loading artifacts never needs the compiler package

    config = config or load_config()
    binary = find_solc(config)
    sources = {p.relative_to(REPO_ROOT).as_posix(): {"content": p.read_text()} for p in source_files()}
    std_input = {"language": "Solidity", "sources": sources, "settings": config.solc_settings()}
    try:
        output = solcx.compile_standard(
            std_input, solc_binary=binary, base_path=str(REPO_ROOT), allow_paths=[str(REPO_ROOT)]
        )
    except solcx.exceptions.SolcError as exc:
        raise CompileError(str(exc)) from exc
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompileError("\n".join(e.get("formattedMessage", e.get("message", "")) for e in errors))

    digest = source_hash(config)
    artifacts: dict[str, dict[str, Any]] = {}
    for src_path, contracts in output.get("contracts", {}).items():
        if not src_path.startswith("contracts/src/"):
            continue
        kinds = _contract_kinds(output["sources"][src_path].get("ast", {}))
        for name, c in contracts.items():
            bytecode = c["evm"]["bytecode"]["object"]
            if kinds.get(name) != "contract" or not bytecode:
                continue  # interfaces, libraries and abstract contracts are not deployed on their own
            if name in artifacts:
                raise CompileError(f"two contracts named {name}: artifact names must be unique")
            artifacts[name] = {
                "contractName": name,
                "sourcePath": src_path,
                "abi": c["abi"],
                "bytecode": "0x" + bytecode,
                "deployedBytecode": "0x" + c["evm"]["deployedBytecode"]["object"],
                # No binary path here: native solc and the solcjs front build the same bytes, so the
                # checked-in artifacts must not depend on which one ran.
                "compiler": {"version": config.solc_version, **config.fingerprint()},
                "sourceHash": digest,
            }
    return artifacts



def _contract_kinds(ast: dict[str, Any]) -> dict[str, str]:
    kinds: dict[str, str] = {}
    for node in ast.get("nodes", []):
        if node.get("nodeType") == "ContractDefinition":
            kind = "abstract" if node.get("abstract") else node.get("contractKind", "")
            kinds[node["name"]] = kind
    return kinds


def write_artifacts(artifacts: dict[str, dict[str, Any]], out_dir: Path = ARTIFACT_DIR) -> list[Path]:
    """Replaces out_dir's artifacts with these (stale ones of removed contracts are deleted)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, art in sorted(artifacts.items()):
        path = out_dir / f"{name}.json"
        path.write_text(json.dumps(art, indent=1, sort_keys=True) + "\n")
        written.append(path)
    for old in out_dir.glob("*.json"):
        if old not in written:
            old.unlink()
    return written


def compile_all(out_dir: Path = ARTIFACT_DIR) -> list[Path]:
    """Compile and write; returns the artifact paths."""
    return write_artifacts(compile_sources(), out_dir)


if __name__ == "__main__":
    for p in compile_all():
        print(p.relative_to(REPO_ROOT))

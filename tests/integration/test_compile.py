"""Compiling contracts/src through py-solc-x (the offline solcjs front here) rebuilds the checked-in artifacts exactly."""

from __future__ import annotations

import json

from chain.artifacts import ARTIFACT_DIR
from chain.compiler import compile_sources


def test_fresh_compile_reproduces_checked_in_artifacts() -> None:
    built = compile_sources()
    on_disk = {p.stem: json.loads(p.read_text()) for p in ARTIFACT_DIR.glob("*.json")}
    assert set(built) == set(on_disk)
    for name, artifact in built.items():
        assert artifact["bytecode"] == on_disk[name]["bytecode"], f"{name}: bytecode differs from the checked-in one"
        assert artifact["abi"] == on_disk[name]["abi"], name

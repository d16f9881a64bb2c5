"""The checked-in artifacts match contracts/src, and every Solidity custom error has its Python exception."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import keccak

from chain import artifacts, compiler, errors
from chain.abi_types import abi_type


def test_artifacts_are_fresh():
    expected = compiler.source_hash()
    names = artifacts.names()
    assert {"StakeManager", "JobMarket"} <= set(names)
    stale = [n for n in names if artifacts.load(n).source_hash != expected]
    if stale:
        pytest.fail(f"artifacts are stale: run `agora contracts compile` ({', '.join(stale)} built from other sources)")


def test_source_hash_covers_every_source_and_the_settings(tmp_path, monkeypatch):
    base = compiler.source_hash()
    cfg = compiler.load_config()
    assert compiler.source_hash(cfg.__class__(**{**cfg.__dict__, "optimizer_runs": cfg.optimizer_runs + 1})) != base
    fake_src = tmp_path / "contracts" / "src"
    fake_src.mkdir(parents=True)
    (fake_src / "A.sol").write_text("contract A {}")
    monkeypatch.setattr(compiler, "SRC_DIR", fake_src)
    monkeypatch.setattr(compiler, "REPO_ROOT", tmp_path)
    one = compiler.source_hash(cfg)
    (fake_src / "A.sol").write_text("contract A { }")
    assert compiler.source_hash(cfg) != one


def test_settings_follow_foundry_toml():
    import tomllib

    foundry = tomllib.loads(compiler.FOUNDRY_TOML.read_text())["profile"]["default"]
    s = compiler.load_config().solc_settings()
    assert s["optimizer"] == {"enabled": foundry["optimizer"], "runs": foundry["optimizer_runs"]}
    assert s["evmVersion"] == foundry["evm_version"]
    assert "@openzeppelin/=node_modules/@openzeppelin/" in s["remappings"]


def test_artifacts_hold_deployable_code():
    for name in artifacts.names():
        art = artifacts.load(name)
        assert art.bytecode.startswith("0x") and len(art.bytecode) > 2, name
        assert art.deployed_bytecode.startswith("0x") and len(art.deployed_bytecode) > 2, name
        assert any(e.get("type") == "function" for e in art.abi), name


ALL_ERRORS = sorted({(a.name, e["name"]) for a in artifacts.load_all().values() for e in a.errors()})


@pytest.mark.parametrize(("contract", "error"), ALL_ERRORS, ids=[f"{c}.{e}" for c, e in ALL_ERRORS])
def test_every_custom_error_has_its_python_class(contract, error):
    cls = getattr(errors, error)
    assert issubclass(cls, errors.ContractRevert) and issubclass(cls, errors.ChainError)
    assert cls.__name__ == error
    # Round trip through the selector with zero-valued arguments of the declared types.
    for entry in (e for e in artifacts.load(contract).errors() if e["name"] == error):
        types = [abi_type(i) for i in entry["inputs"]]
        selector = keccak(text=f"{error}({','.join(types)})")[:4]
        zeros = [_zero(t) for t in types]
        decoded = errors.decode_revert(selector + encode(types, zeros))
        assert type(decoded) is cls
        assert decoded.error_name == error
        assert len(decoded.args) == len(types)


def _zero(t: str):
    if t.endswith("]"):
        return []
    if t.startswith("("):
        inner = t[1:-1]
        return tuple(_zero(x) for x in _split(inner))
    if t == "address":
        return "0x" + "00" * 20
    if t == "bool":
        return False
    if t in ("string",):
        return ""
    if t == "bytes":
        return b""
    if t.startswith("bytes"):
        return b"\x00" * int(t[5:])
    return 0


def _split(inner: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    return out + ([cur] if cur else [])


def test_unknown_attribute_is_a_clear_error():
    with pytest.raises(AttributeError, match="no artifact declares"):
        errors.NoSuchSolidityError  # noqa: B018

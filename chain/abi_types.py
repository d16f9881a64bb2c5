"""ABI parameter descriptions turned into eth_abi type strings, and decoded values into plain Python values."""

from __future__ import annotations

from typing import Any

from eth_utils import to_checksum_address


def abi_type(param: dict[str, Any]) -> str:
    """The canonical type string of one ABI parameter; tuples (structs) expand to "(t1,t2,…)" with array suffixes."""
    t = str(param["type"])
    if t.startswith("tuple"):
        inner = ",".join(abi_type(c) for c in param["components"])
        return f"({inner}){t[len('tuple'):]}"
    return t


def to_python(param: dict[str, Any], value: Any) -> Any:
    """Checksummed addresses, structs as dicts keyed by component name, arrays as lists; the rest as decoded."""
    t = str(param["type"])
    if t.endswith("]"):
        elem = dict(param, type=t[: t.rindex("[")])
        return [to_python(elem, v) for v in value]
    if t == "tuple":
        return {c["name"]: to_python(c, v) for c, v in zip(param["components"], value, strict=True)}
    if t == "address":
        return to_checksum_address(value)
    return value

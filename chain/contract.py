"""A thin bound contract: ABI-encodes calls from an artifact, reads through eth_call, writes through the Sender."""

from __future__ import annotations

from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_typing import ChecksumAddress
from eth_utils import keccak, to_checksum_address

from chain import artifacts
from chain.abi_types import abi_type, to_python
from chain.sender import Sender, TxReceipt


def _encode_value(param: dict[str, Any], value: Any) -> Any:
    """Structs may be passed as dicts (by component name), dataclasses with as_tuple(), or tuples."""
    t = str(param["type"])
    if t.endswith("]"):
        elem = dict(param, type=t[: t.rindex("[")])
        return [_encode_value(elem, v) for v in value]
    if t == "tuple":
        if hasattr(value, "as_tuple"):
            value = value.as_tuple()
        if isinstance(value, dict):
            value = [value[c["name"]] for c in param["components"]]
        return tuple(_encode_value(c, v) for c, v in zip(param["components"], value, strict=True))
    if t == "address":
        return to_checksum_address(value)
    if t.startswith("bytes") and t != "bytes" and isinstance(value, str):
        return bytes.fromhex(value.removeprefix("0x"))
    return value


def encode_args(inputs: list[dict[str, Any]], args: tuple[Any, ...]) -> bytes:
    if len(inputs) != len(args):
        raise TypeError(f"expected {len(inputs)} arguments, got {len(args)}")
    return abi_encode([abi_type(i) for i in inputs], [_encode_value(i, a) for i, a in zip(inputs, args, strict=True)])


class BoundContract:
    """Contract `name` (an artifact) at `address`, used by `sender`'s account."""

    def __init__(self, name: str, address: str, sender: Sender) -> None:
        self.name = name
        self.address: ChecksumAddress = to_checksum_address(address)
        self.sender = sender
        self.artifact = artifacts.load(name)
        self._functions: dict[str, dict[str, Any]] = {}
        for entry in self.artifact.abi:
            if entry.get("type") == "function":
                if entry["name"] in self._functions:
                    raise TypeError(f"{name}.{entry['name']} is overloaded; the client does not support that")
                self._functions[entry["name"]] = entry

    def _fn(self, fn: str) -> dict[str, Any]:
        try:
            return self._functions[fn]
        except KeyError:
            raise AttributeError(f"{self.name} has no function {fn}") from None

    def calldata(self, fn: str, *args: Any) -> bytes:
        entry = self._fn(fn)
        sig = f"{fn}({','.join(abi_type(i) for i in entry['inputs'])})"
        return keccak(text=sig)[:4] + encode_args(entry["inputs"], args)

    def call(self, fn: str, *args: Any, block: int | str = "latest") -> Any:
        """A view call; one output comes back bare, several as a tuple, structs as dicts."""
        entry = self._fn(fn)
        raw = self.sender.call(self.address, self.calldata(fn, *args), block=block)
        outs = entry.get("outputs", [])
        decoded = abi_decode([abi_type(o) for o in outs], raw)
        values = tuple(to_python(o, v) for o, v in zip(outs, decoded, strict=True))
        return values[0] if len(values) == 1 else values

    def transact(self, fn: str, *args: Any, value: int = 0, gas: int | None = None) -> TxReceipt:
        return self.sender.transact(self.address, self.calldata(fn, *args), value=value, gas=gas)


def deploy_contract(name: str, sender: Sender, *ctor_args: Any) -> tuple[str, TxReceipt]:
    """Deploys artifact `name` with constructor arguments; returns (address, receipt)."""
    art = artifacts.load(name)
    init = bytes.fromhex(art.bytecode.removeprefix("0x")) + encode_args(art.constructor_inputs(), ctor_args)
    receipt = sender.deploy(init)
    assert receipt.contract_address is not None
    return to_checksum_address(receipt.contract_address), receipt

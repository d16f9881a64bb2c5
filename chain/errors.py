"""Chain exceptions: one root `ChainError`, and one `ContractRevert` leaf per Solidity custom error.

The per-error classes are generated at import from the checked-in ABIs (chain/artifacts) and carry the
Solidity error's name, so callers write `except chain.errors.InsufficientFreeStake as e: e.values["free"]`.
A name shared by several contracts (NotAdmin, NothingToWithdraw, …) is one Python class; each selector keeps
its own argument list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak

from chain import artifacts
from chain.abi_types import abi_type, to_python


class ChainError(Exception):
    """Root of everything chain/ raises on purpose."""


class TransientChainError(ChainError):
    """The node could not be reached or timed out, and retries were exhausted."""


class ReceiptTimeout(ChainError):
    """A sent transaction was not mined (or not confirmed) in time; it may still land."""

    def __init__(self, tx_hash: str, timeout_s: float) -> None:
        super().__init__(f"transaction {tx_hash} not confirmed within {timeout_s:g}s")
        self.tx_hash = tx_hash


class NonceError(ChainError):
    """The account's nonce could not be agreed with the node after resyncing."""


class DeploymentNotFound(ChainError):
    """No deployments/<chainId>.json for this chain."""


class ContractRevert(ChainError):
    """A call or transaction reverted. `error_name` is the Solidity error's name ("Error", "Panic" included),
    `args` its decoded arguments in order, `values` the same by parameter name, `data` the raw revert data.
    `tx_hash` is set when a mined transaction reverted (None when the revert was caught before sending).
    """

    error_name: str = ""

    def __init__(
        self,
        error_name: str,
        args: tuple[Any, ...] = (),
        values: dict[str, Any] | None = None,
        data: bytes = b"",
        tx_hash: str | None = None,
    ) -> None:
        shown = ", ".join(f"{k}={v!r}" for k, v in (values or {}).items()) or ", ".join(map(repr, args))
        super().__init__(f"{error_name}({shown})")
        self.error_name = error_name
        self.args = tuple(args)
        self.values = dict(values or {})
        self.data = data
        self.tx_hash = tx_hash

    def __str__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.values.items()) or ", ".join(map(repr, self.args))
        where = f" in tx {self.tx_hash}" if self.tx_hash else ""
        return f"reverted with {self.error_name}({shown}){where}"


class RevertWithReason(ContractRevert):
    """require(cond, "reason") / revert("reason"): Error(string)."""

    @property
    def reason(self) -> str:
        return str(self.args[0]) if self.args else ""


class Panic(ContractRevert):
    """Panic(uint256): assert failure, arithmetic overflow, division by zero, array out of bounds…"""

    @property
    def code(self) -> int:
        return int(self.args[0]) if self.args else -1


class UnknownRevert(ContractRevert):
    """Revert data no artifact explains (or no data at all)."""


_BASE_NAMES = {c.__name__ for c in (ChainError, TransientChainError, ReceiptTimeout, NonceError,
                                    DeploymentNotFound, ContractRevert, RevertWithReason, Panic, UnknownRevert)}


@dataclass(frozen=True)
class _ErrorSpec:
    cls: type[ContractRevert]
    name: str
    inputs: tuple[dict[str, Any], ...]


def _signature(entry: dict[str, Any]) -> str:
    return f"{entry['name']}({','.join(abi_type(i) for i in entry.get('inputs', []))})"


def _build() -> tuple[dict[bytes, _ErrorSpec], dict[str, type[ContractRevert]]]:
    by_selector: dict[bytes, _ErrorSpec] = {
        keccak(text="Error(string)")[:4]: _ErrorSpec(RevertWithReason, "Error", ({"name": "reason", "type": "string"},)),
        keccak(text="Panic(uint256)")[:4]: _ErrorSpec(Panic, "Panic", ({"name": "code", "type": "uint256"},)),
    }
    classes: dict[str, type[ContractRevert]] = {}
    for art in artifacts.load_all().values():
        for entry in art.errors():
            name = entry["name"]
            if name in _BASE_NAMES:
                raise TypeError(f"Solidity error {name} collides with a chain.errors base class")
            cls = classes.get(name)
            if cls is None:
                doc = f"Solidity custom error `{name}` (raised by {art.name})."
                cls = type(name, (ContractRevert,), {"__doc__": doc, "__module__": __name__, "error_name": name})
                classes[name] = cls
            selector = keccak(text=_signature(entry))[:4]
            by_selector[selector] = _ErrorSpec(cls, name, tuple(entry.get("inputs", [])))
    return by_selector, classes


_BY_SELECTOR, CUSTOM_ERRORS = _build()
globals().update(CUSTOM_ERRORS)


def __getattr__(name: str) -> type[ContractRevert]:
    # Only reached for names not generated above; keeps `errors.SomeError` typed for mypy.
    raise AttributeError(f"chain.errors has no {name!r}: no artifact declares a Solidity error of that name")


def error_class(name: str) -> type[ContractRevert]:
    """The class of Solidity error `name`; KeyError when no artifact declares it."""
    return CUSTOM_ERRORS[name]


def decode_revert(data: bytes | str | None, tx_hash: str | None = None) -> ContractRevert:
    """Turns raw revert data into the matching exception instance (UnknownRevert when nothing matches)."""
    if isinstance(data, str):
        data = bytes.fromhex(data.removeprefix("0x"))
    data = data or b""
    spec = _BY_SELECTOR.get(data[:4]) if len(data) >= 4 else None
    if spec is None:
        return UnknownRevert("unknown" if data else "no data", (data.hex(),) if data else (), data=data,
                             tx_hash=tx_hash)
    try:
        decoded = abi_decode([abi_type(i) for i in spec.inputs], data[4:])
    except Exception:  # noqa: BLE001 - malformed data under a known selector is still "unknown"
        return UnknownRevert(spec.name, (data.hex(),), data=data, tx_hash=tx_hash)
    values = tuple(to_python(i, v) for i, v in zip(spec.inputs, decoded, strict=True))
    named = {(i.get("name") or f"arg{k}"): v for k, (i, v) in enumerate(zip(spec.inputs, values, strict=True))}
    return spec.cls(spec.name, values, named, data=data, tx_hash=tx_hash)

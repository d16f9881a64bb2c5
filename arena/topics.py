"""Event topics the game agent and its users watch, derived from the checked-in ABIs."""

from __future__ import annotations

from eth_utils import keccak

from chain import artifacts
from chain.abi_types import abi_type


def event_topic(contract: str, name: str) -> str:
    """topic0 of `contract`'s event `name`, from the checked-in ABI (so a changed signature follows the ABI)."""
    for entry in artifacts.load(contract).events():
        if entry["name"] == name:
            return "0x" + keccak(text=f"{name}({','.join(abi_type(i) for i in entry['inputs'])})").hex()
    raise LookupError(f"{contract} has no event {name}")

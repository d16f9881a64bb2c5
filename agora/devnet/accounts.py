"""Who is who on a devnet: fixed anvil dev accounts per role, derived keys for providers beyond the dev ones."""

from __future__ import annotations

from eth_account import Account
from eth_utils import keccak

from chain.anvil import DEV_PRIVATE_KEYS

# Fixed indices so logs, tests and the README agree on every address.
ROLE_INDEX = {"deployer": 0, "matcher": 1, "referee": 2, "verifier": 3, "client": 4, "treasury": 5}
FIRST_PROVIDER_INDEX = 6


def role_key(role: str) -> str:
    return DEV_PRIVATE_KEYS[ROLE_INDEX[role]]


def provider_key(i: int) -> str:
    """Provider i (0-based): an anvil dev account while there are some left, else a key derived from i
    (public and deterministic: devnet only; `up` funds it with anvil_setBalance)."""
    j = FIRST_PROVIDER_INDEX + i
    if j < len(DEV_PRIVATE_KEYS):
        return DEV_PRIVATE_KEYS[j]
    return "0x" + keccak(text=f"agora devnet provider {i}").hex()


def is_dev_account(private_key: str) -> bool:
    return private_key in DEV_PRIVATE_KEYS


def address_of(private_key: str) -> str:
    return Account.from_key(private_key).address

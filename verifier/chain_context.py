"""Chain clients of one verifier or referee process, built once from its settings."""

from __future__ import annotations

from functools import cached_property

from chain.session import ChainSession
from client.api import CoordinatorClient
from verifier.settings import VerifierSettings


class ChainContext(ChainSession):
    """The verifier's or referee's chain session plus its coordinator client."""

    def __init__(self, settings: VerifierSettings) -> None:
        super().__init__(settings.rpc_url, settings.private_key, settings.deployment_file)
        self.settings = settings

    @property
    def address(self) -> str:
        return self.settings.address

    @cached_property
    def api(self) -> CoordinatorClient:
        return CoordinatorClient(self.settings.coordinator_url, self.settings.private_key)


def find_job(api: CoordinatorClient, chain_job_id: int, cache: dict[int, int]) -> int | None:
    """The coordinator's id of on-chain job `chain_job_id` (None when it does not know it yet)."""
    if chain_job_id in cache:
        return cache[chain_job_id]
    for job in api.jobs():
        if job.get("chain_job_id") is not None:
            cache[int(job["chain_job_id"])] = int(job["id"])
        if job.get("chain_job_id") == chain_job_id:
            return int(job["id"])
    return None


def event_topic(contract: str, name: str) -> str:
    """topic0 of `contract`'s event `name`, from the checked-in ABI (so a changed signature follows the ABI)."""
    from eth_utils import keccak

    from chain import artifacts
    from chain.abi_types import abi_type

    for entry in artifacts.load(contract).events():
        if entry["name"] == name:
            return "0x" + keccak(text=f"{name}({','.join(abi_type(i) for i in entry['inputs'])})").hex()
    raise LookupError(f"{contract} has no event {name}")

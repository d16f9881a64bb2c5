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


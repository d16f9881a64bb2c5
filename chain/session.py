"""One key's connection to one deployment: web3, the deployment's addresses, its sender and typed clients.

Every long-running process that sends transactions (worker, verifier, referee) builds one of these and
shares it between its threads; nothing is connected until first used.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from web3 import Web3

from chain.deploy import Deployment
from chain.dispute_game import DisputeGame
from chain.job_market import JobMarket
from chain.sender import Sender, make_web3
from chain.stake_manager import StakeManager


class ChainSession:
    def __init__(self, rpc_url: str, private_key: str, deployment_file: Path | None = None) -> None:
        self.rpc_url = rpc_url
        self.private_key = private_key
        self.deployment_file = deployment_file

    @cached_property
    def w3(self) -> Web3:
        return make_web3(self.rpc_url)

    @cached_property
    def deployment(self) -> Deployment:
        """The given deployment file, else deployments/<chainId>.json of the node's chain."""
        if self.deployment_file is not None:
            return Deployment.from_file(Path(self.deployment_file))
        return Deployment.load(int(self.w3.eth.chain_id))

    @cached_property
    def sender(self) -> Sender:
        return Sender(self.w3, self.private_key, None, self.deployment.decoder())

    @cached_property
    def market(self) -> JobMarket:
        return JobMarket(self.deployment.address("JobMarket"), self.sender, from_block=self.deployment.deploy_block)

    @cached_property
    def stake(self) -> StakeManager:
        return StakeManager(self.deployment.address("StakeManager"), self.sender)

    @cached_property
    def game(self) -> DisputeGame:
        return DisputeGame(self.deployment.address("DisputeGame"), self.sender, from_block=self.deployment.deploy_block)

    def chain_now(self) -> int:
        """The latest block's timestamp: deadlines on-chain are judged by it, not by the wall clock."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

"""Shared fixtures for integration tests on a real anvil: the node, web3, the deployed contracts and isolation.

Usage from any integration test:

    def test_x(deployed, roles, market_as, chain_snapshot): ...

`chain_snapshot` (function-scoped) wraps the test in evm_snapshot / evm_revert and resets every sender's
cached nonces, so tests can mutate the chain freely without seeing each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from web3 import Web3

from chain.anvil import AnvilProcess, DevAccount


@dataclass(frozen=True)
class Roles:
    """Who is who among anvil's dev accounts (fixed indices so every test file agrees)."""

    deployer: DevAccount  # admin of every contract
    matcher: DevAccount  # MATCHER role on JobMarket
    client: DevAccount
    provider: DevAccount
    challenger: DevAccount
    treasury: DevAccount
    provider2: DevAccount
    stranger: DevAccount  # holds no role; for "wrong role" calls


@pytest.fixture(scope="session")
def anvil() -> Iterator[AnvilProcess]:
    """One automining anvil per test session, on a free port, killed at the end."""
    with AnvilProcess(chain_id=31337) as node:
        yield node


@pytest.fixture(scope="session")
def w3(anvil: AnvilProcess) -> Web3:
    return Web3(Web3.HTTPProvider(anvil.rpc_url, request_kwargs={"timeout": 30}))


@pytest.fixture(scope="session")
def roles(anvil: AnvilProcess) -> Roles:
    a = anvil.accounts
    return Roles(
        deployer=a[0], matcher=a[1], client=a[2], provider=a[3],
        challenger=a[4], treasury=a[5], provider2=a[6], stranger=a[7],
    )


@pytest.fixture(scope="session")
def deployed(anvil: AnvilProcess, roles: Roles, tmp_path_factory: pytest.TempPathFactory):
    """Every contract deployed and wired with devnet (short-clock) parameters; returns chain.deploy.Deployment.

    Written to a temporary deployments folder so the repo's deployments/31337.json is never touched.
    """
    from chain.deploy import DeployParams, deploy

    params = DeployParams.devnet(matcher=roles.matcher.address, treasury=roles.treasury.address)
    return deploy(
        anvil.rpc_url,
        roles.deployer.private_key,
        params,
        out_dir=tmp_path_factory.mktemp("deployments"),
    )


@pytest.fixture()
def chain_snapshot(anvil: AnvilProcess) -> Iterator[str]:
    """Isolates one test: snapshot before, revert after, and forget cached nonces (they went back in time)."""
    from chain.job_market import clear_terms_cache
    from chain.sender import reset_nonce_caches

    snap = anvil.snapshot()
    try:
        yield snap
    finally:
        anvil.revert(snap)
        reset_nonce_caches()
        clear_terms_cache()


@pytest.fixture()
def time_travel(anvil: AnvilProcess) -> Callable[[int], None]:
    """time_travel(seconds): evm_increaseTime + mine one block."""
    return anvil.increase_time


@pytest.fixture()
def market_as(anvil: AnvilProcess, deployed):
    """market_as(account[, settings]) -> chain.job_market.JobMarket client signing as that dev account."""
    from chain.job_market import JobMarket

    def make(account: DevAccount, settings=None) -> JobMarket:
        return JobMarket.connect(deployed, anvil.rpc_url, account.private_key, settings)

    return make


@pytest.fixture()
def stake_as(anvil: AnvilProcess, deployed):
    """stake_as(account[, settings]) -> chain.stake_manager.StakeManager client signing as that dev account."""
    from chain.stake_manager import StakeManager

    def make(account: DevAccount, settings=None) -> StakeManager:
        return StakeManager.connect(deployed, anvil.rpc_url, account.private_key, settings)

    return make

"""`agora contracts compile|deploy|show`: build the checked-in artifacts and deploy the market to any RPC."""

from __future__ import annotations

from pathlib import Path

import click

from agora.output import CliError, FriendlyGroup, echo_json, fields, parse_duration


@click.group(cls=FriendlyGroup)
def group() -> None:
    """Compile the Solidity sources into chain/artifacts and deploy StakeManager, JobMarket and DisputeGame."""


@group.command()
@click.option("--check", is_flag=True, help="only say whether the artifacts match the sources (exit 1 if stale)")
def compile(check: bool) -> None:
    """Recompile contracts/src with the pinned solc into chain/artifacts/*.json (commit the result)."""
    from chain import artifacts
    from chain.compiler import REPO_ROOT, CompileError, compile_all, source_hash

    if check:
        expected = source_hash()
        stale = [n for n in artifacts.names() if artifacts.load(n).source_hash != expected]
        if stale or not artifacts.names():
            raise CliError(f"artifacts are stale ({', '.join(stale) or 'none built'}): run `agora contracts compile`")
        click.echo(f"artifacts are fresh ({len(artifacts.names())} contracts, source hash {expected[:12]}…)")
        return

    try:
        paths = compile_all()
    except CompileError as exc:
        raise CliError(f"compilation failed: {str(exc).strip().splitlines()[0]}") from None
    for p in paths:
        click.echo(p.relative_to(REPO_ROOT))


@group.command()
@click.option("--rpc", "rpc_url", envvar="AGORA_RPC_URL", default="http://127.0.0.1:8545", show_default=True,
              help="JSON-RPC URL of the chain (or $AGORA_RPC_URL)")
@click.option("--key-file", type=click.Path(path_type=Path, dir_okay=False),
              help="file holding the deployer's private key (else $AGORA_PRIVATE_KEY)")
@click.option("--preset", type=click.Choice(["auto", "devnet", "testnet"]), default="auto", show_default=True,
              help="parameter defaults: devnet = short clocks; auto = devnet on chain 31337, testnet elsewhere")
@click.option("--matcher", metavar="ADDRESS", help="MATCHER role (default: the deployer)")
@click.option("--treasury", metavar="ADDRESS", help="fee recipient (default: the deployer)")
@click.option("--referee", metavar="ADDRESS", help="dispute referee (default: the deployer)")
@click.option("--challenge-window", metavar="DURATION", help="override, e.g. 1h")
@click.option("--unbonding", metavar="DURATION", help="override the unbonding period, e.g. 7d")
@click.option("--out-dir", type=click.Path(path_type=Path, file_okay=False), help="where <chainId>.json goes "
              "(default: deployments/)")
@click.option("--json", "as_json", is_flag=True, help="print the deployment as JSON")
def deploy(rpc_url: str, key_file: Path | None, preset: str, matcher: str | None, treasury: str | None,
           referee: str | None, challenge_window: str | None, unbonding: str | None, out_dir: Path | None,
           as_json: bool) -> None:
    """Deploy and wire the contracts, then write deployments/<chainId>.json. Fees and confirmations come from
    AGORA_PRIORITY_FEE_WEI, AGORA_MAX_FEE_CAP_WEI, AGORA_CONFIRMATIONS (see chain.sender.SenderSettings)."""
    from eth_utils import is_address

    from agora.keys import load_key
    from chain.deploy import DEPLOYMENTS_DIR, DeployParams
    from chain.deploy import deploy as do_deploy
    from chain.sender import SenderSettings, make_web3

    key = load_key(key_file, "AGORA_PRIVATE_KEY", role="deployer")
    for name, addr in (("--matcher", matcher), ("--treasury", treasury), ("--referee", referee)):
        if addr is not None and not is_address(addr):
            raise CliError(f"{name} {addr!r} is not an address: write 0x followed by 40 hex digits")
    overrides: dict[str, object] = {"matcher": matcher, "treasury": treasury, "referee": referee}
    if challenge_window:
        overrides["challenge_window_s"] = parse_duration(challenge_window)
    if unbonding:
        overrides["unbonding_period_s"] = parse_duration(unbonding)
    try:
        settings = SenderSettings.from_env()
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if preset == "auto":
        preset = "devnet" if int(make_web3(rpc_url).eth.chain_id) == 31337 else "testnet"
    params = (DeployParams.devnet if preset == "devnet" else DeployParams.testnet)(**overrides)
    d = do_deploy(rpc_url, key.private_key, params, out_dir=out_dir or DEPLOYMENTS_DIR, settings=settings)
    if as_json:
        echo_json(d.to_json())
        return
    fields([("chain id", d.chain_id), ("deployer", d.deployer), ("deploy block", d.deploy_block),
            *[(n, a) for n, a in d.contracts.items()], ("written to", d.path)])


@group.command()
@click.option("--chain-id", type=int, default=31337, show_default=True)
def show(chain_id: int) -> None:
    """Print deployments/<chainId>.json."""
    from chain.deploy import Deployment

    echo_json(Deployment.load(chain_id).to_json())

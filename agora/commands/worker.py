"""`agora worker start`: run a provider's Celery worker — trains dispatched jobs, submits results, defends disputes.

Like every other `agora` command it talks to the running devnet when there is one (coordinator, chain, deployment,
broker), unless options say otherwise; `python -m worker` (what services run) reads only AGORA_* variables.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from agora.output import CliError

EXIT_BAD_INPUT = 2


@click.group()
def group() -> None:
    """Run a provider worker."""


@group.command()
@click.option("--key-file", type=click.Path(dir_okay=False), default=None,
              help="the provider's private key (else $AGORA_PROVIDER_KEY_FILE or $AGORA_PROVIDER_KEY)")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None, help="[default: $AGORA_DEVICE or cpu]")
@click.option("--max-params", type=click.IntRange(1, None), default=None, metavar="N",
              help="largest model (parameters) this worker takes; the matcher honours it [default: 5000000]")
@click.option("--coordinator", default=None, help="coordinator URL [default: the devnet's, else $AGORA_COORDINATOR_URL]")
@click.option("--rpc", default=None, help="chain RPC URL [default: the devnet's, else $AGORA_RPC_URL]")
@click.option("--deployment", type=click.Path(dir_okay=False), default=None,
              help="deployments/<chainId>.json [default: the devnet's, else $AGORA_DEPLOYMENT_FILE]")
@click.option("--broker", default=None, help="Celery broker [default: the devnet's, else $AGORA_BROKER_URL]")
@click.option("--fault", default=None,
              help="TEST BEHAVIOUR: perturb-step=K | lazy[=K] | wrong-final | silent[=K] [default: $AGORA_FAULT]")
@click.option("--hostname", default=None, help="Celery node name")
@click.option("--loglevel", default="INFO", show_default=True)
def start(key_file: str | None, device: str | None, max_params: int | None, coordinator: str | None, rpc: str | None,
          deployment: str | None, broker: str | None, fault: str | None, hostname: str | None, loglevel: str) -> None:
    """Consume this provider's queue (provider.<address>) until interrupted."""
    from agora.devnet.state import endpoints
    from client.identity import KeyUnavailable
    from worker.faults import FaultSyntaxError
    from worker.process import start as start_worker
    from worker.settings import WorkerSettings

    ep = endpoints(coordinator=coordinator, rpc=rpc, deployment=Path(deployment) if deployment else None)
    if ep.devnet is not None and broker is None:
        broker = ep.devnet.broker
        if broker.startswith("filesystem://") and not os.environ.get("AGORA_BROKER_DIR"):
            # The devnet's filesystem broker lives next to its state (agora/devnet/network.py).
            os.environ["AGORA_BROKER_DIR"] = str(Path(ep.devnet.artifact_dir).parent / "broker")
    try:
        settings = WorkerSettings.from_env(
            key_file, device=device, max_params=max_params, coordinator_url=ep.coordinator, rpc_url=ep.rpc,
            deployment_file=str(ep.deployment) if ep.deployment else None, fault=fault, broker_url=broker,
        )
    except (KeyUnavailable, FaultSyntaxError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    if settings.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise CliError("--device cuda but torch sees no CUDA device here: use --device cpu")
    click.echo(f"worker {settings.address} consuming queue {settings.queue} on {settings.coordinator_url} "
               f"(device {settings.device}, up to {settings.max_params} parameters)"
               + (f" — FAULT {settings.fault} (test behaviour)" if settings.fault else ""), err=True)
    start_worker(settings, hostname=hostname, loglevel=loglevel)

"""The worker's command line, shared by `agora worker start` and `python -m worker` (options, key, faults)."""

from __future__ import annotations

import sys

import click

EXIT_BAD_INPUT = 2


@click.command()
@click.option("--key-file", type=click.Path(dir_okay=False), default=None,
              help="the provider's private key (else $AGORA_PROVIDER_KEY_FILE or $AGORA_PROVIDER_KEY)")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None, help="[default: $AGORA_DEVICE or cpu]")
@click.option("--coordinator", default=None, help="coordinator URL [default: $AGORA_COORDINATOR_URL or http://127.0.0.1:8000]")
@click.option("--rpc", default=None, help="chain RPC URL [default: $AGORA_RPC_URL or http://127.0.0.1:8545]")
@click.option("--deployment", type=click.Path(dir_okay=False), default=None,
              help="deployments/<chainId>.json [default: $AGORA_DEPLOYMENT_FILE or the chain's file]")
@click.option("--broker", default=None, help="Celery broker [default: $AGORA_BROKER_URL or redis://127.0.0.1:6379/0]")
@click.option("--fault", default=None,
              help="TEST BEHAVIOUR: perturb-step=K | lazy[=K] | wrong-final | silent[=K] [default: $AGORA_FAULT]")
@click.option("--hostname", default=None, help="Celery node name")
@click.option("--loglevel", default="INFO", show_default=True)
def start(key_file: str | None, device: str | None, coordinator: str | None, rpc: str | None,
          deployment: str | None, broker: str | None, fault: str | None, hostname: str | None, loglevel: str) -> None:
    """Consume this provider's queue (provider.<address>) until interrupted."""
    from client.identity import KeyUnavailable
    from worker.faults import FaultSyntaxError
    from worker.process import StartOptions, settings_from
    from worker.process import start as start_worker

    opts = StartOptions(key_file=key_file, device=device, coordinator=coordinator, rpc=rpc, deployment=deployment,
                        fault=fault, broker=broker, hostname=hostname, loglevel=loglevel)
    try:
        settings = settings_from(opts)
    except (KeyUnavailable, FaultSyntaxError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    click.echo(f"worker {settings.address} consuming queue {settings.queue}"
               + (f" — FAULT {settings.fault} (test behaviour)" if settings.fault else ""), err=True)
    start_worker(settings, hostname=hostname, loglevel=loglevel)

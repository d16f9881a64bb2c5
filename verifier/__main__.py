"""`python -m verifier verify|referee --key-file KEY …`: the verifier and the referee processes."""

from __future__ import annotations

import logging
import signal
import sys
import threading

import click

EXIT_BAD_INPUT = 2

_common = [
    click.option("--key-file", type=click.Path(dir_okay=False), default=None,
                 help="private key file (else $AGORA_<ROLE>_KEY_FILE or $AGORA_<ROLE>_KEY)"),
    click.option("--coordinator", default=None, help="[default: $AGORA_COORDINATOR_URL or http://127.0.0.1:8000]"),
    click.option("--rpc", default=None, help="[default: $AGORA_RPC_URL or http://127.0.0.1:8545]"),
    click.option("--deployment", type=click.Path(dir_okay=False), default=None,
                 help="deployments/<chainId>.json [default: $AGORA_DEPLOYMENT_FILE or the chain's file]"),
    click.option("--broker", default=None, help="Redis for op-input hand-overs [default: $AGORA_BROKER_URL]"),
    click.option("--loglevel", default="INFO", show_default=True),
]


def common(fn):
    for opt in reversed(_common):
        fn = opt(fn)
    return fn


def _settings(role: str, key_file: str | None, **overrides: object):
    from client.identity import KeyUnavailable
    from verifier.faults import FaultSyntaxError
    from verifier.settings import VerifierSettings

    try:
        return VerifierSettings.from_env(role, key_file, **overrides)
    except (KeyUnavailable, FaultSyntaxError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)


def _run(service, loglevel: str) -> None:
    logging.basicConfig(level=getattr(logging, loglevel.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns the decisions
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    service.run(stop)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Agora verifier and referee processes."""


@cli.command()
@common
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None)
@click.option("--always", is_flag=True, default=None, help="re-run every submitted job [default: $AGORA_VERIFY_ALL]")
@click.option("--fault", default=None, help="TEST BEHAVIOUR: false-challenge[=K] [default: $AGORA_FAULT]")
def verify(key_file: str | None, coordinator: str | None, rpc: str | None, deployment: str | None,
           broker: str | None, loglevel: str, device: str | None, always: bool | None, fault: str | None) -> None:
    """Re-run submitted jobs by policy; challenge and play out any result it cannot reproduce."""
    from verifier.verifier_service import VerifierService

    s = _settings("verifier", key_file, coordinator_url=coordinator, rpc_url=rpc, deployment_file=deployment,
                  broker_url=broker, device=device, always=always, fault=fault)
    _run(VerifierService(s), loglevel)


@cli.command()
@common
@click.option("--grace", type=float, default=5.0, show_default=True,
              help="seconds to wait for the parties' op inputs before recomputing them")
def referee(key_file: str | None, coordinator: str | None, rpc: str | None, deployment: str | None,
            broker: str | None, loglevel: str, grace: float) -> None:
    """Rule on games that reached the referee: recompute the one disputed op and post its hash."""
    from verifier.referee_service import RefereeService

    s = _settings("referee", key_file, coordinator_url=coordinator, rpc_url=rpc, deployment_file=deployment,
                  broker_url=broker)
    _run(RefereeService(s, grace_s=grace), loglevel)


if __name__ == "__main__":
    cli(prog_name="python -m verifier")

"""`agora bench gas|repops|dispute|api|console|soak`: benchmarks that print their figures, JSON on the last line."""

from __future__ import annotations

import importlib
import json

import click


@click.group()
def group() -> None:
    """Benchmarks; each prints human-readable figures and a JSON object as its last line."""


def _run(name: str, **kwargs: object) -> None:
    module = importlib.import_module(f"agora.benches.{name}")
    result = module.run(**kwargs)
    click.echo(json.dumps(result))


@group.command()
def gas() -> None:
    """Deploy on a fresh anvil and measure the gas of each happy-path call."""
    _run("gas")


@group.command()
def repops() -> None:
    """Time one training step with RepOps against native PyTorch float32, and the share spent hashing."""
    _run("repops")


@group.command()
def dispute() -> None:
    """Play whole dispute games on a fresh anvil for several trace sizes and k; report moves and gas."""
    _run("dispute")


@group.command()
def console() -> None:
    """Load the web console's pages in headless Chromium on a devnet holding 1,000 jobs; time each page."""
    _run("console")


@group.command()
def api() -> None:
    """Load the coordinator on Postgres from a separate process; time matching 10k jobs x 1k providers."""
    _run("api")


@group.command()
@click.option("--jobs", type=click.IntRange(1), default=200, show_default=True, help="tiny jobs to post")
@click.option("--workers", type=click.IntRange(1), default=4, show_default=True, help="worker processes")
@click.option("--fault", default="perturb-step=2", show_default=True,
              help="worker-1's fault ('' for none): perturb-step=K, lazy[=K], wrong-final, silent[=K]")
@click.option("--kill-every", "kill_every_s", type=click.FloatRange(1), default=20.0, show_default=True,
              help="seconds between SIGKILLs of a random service (each restarted)")
@click.option("--steps", type=click.IntRange(1), default=4, show_default=True, help="training steps per job")
@click.option("--submit-every", "submit_every_s", type=click.FloatRange(0), default=0.5, show_default=True,
              help="seconds between two job posts")
@click.option("--timeout", "timeout_s", type=click.FloatRange(1), default=3600.0, show_default=True,
              help="give up waiting for settlement after this many seconds")
def soak(jobs: int, workers: int, fault: str, kill_every_s: float, steps: int, submit_every_s: float,
         timeout_s: float) -> None:
    """Post many tiny jobs to a devnet while random services are SIGKILLed and restarted; every job must
    settle and the wei ledger balance."""
    _run("soak", jobs=jobs, workers=workers, fault=fault, kill_every_s=kill_every_s, steps=steps,
         submit_every_s=submit_every_s, timeout_s=timeout_s)

"""`agora bench gas|repops|dispute|api`: benchmarks that print their figures, JSON on the last line."""

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
def api() -> None:
    """Load the coordinator on Postgres from a separate process; time matching 10k jobs x 1k providers."""
    _run("api")

"""Entry point of the `agora` command: wires the command groups, turns known errors into one-line messages."""

from __future__ import annotations

import importlib

import click

# group name -> module under agora.commands exposing a click group called `group`
GROUPS = ["devnet", "jobs", "wallet", "datasets", "model", "provider", "worker", "disputes", "contracts", "verde", "bench"]


class LazyGroup(click.Group):
    """Imports a command group's module only when it is used, so `agora --help` stays instant."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(GROUPS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in GROUPS:
            return None
        try:
            module = importlib.import_module(f"agora.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"agora.commands.{name}":
                return None
            raise
        return module.group


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Agora: a verifiable ML-compute marketplace on an EVM chain."""


def main() -> None:
    cli()

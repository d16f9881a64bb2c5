"""`agora worker start`: run a provider's Celery worker — trains dispatched jobs, submits results, defends disputes."""

from __future__ import annotations

import click

from worker.command import start


@click.group()
def group() -> None:
    """Run a provider worker."""


group.add_command(start)

"""`agora model export`: turn your PyTorch module into the graph and weights a job spec names (on your machine)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from agora.output import CliError, FriendlyGroup, echo_json, fields


@click.group(cls=FriendlyGroup)
def group() -> None:
    """Export PyTorch models for Agora jobs (spec version 2, model kind "graph")."""


@group.command(name="export")
@click.argument("factory", metavar="MODULE.py:FACTORY")
@click.option("--example", "example_file", type=click.Path(path_type=Path), required=True, metavar="BATCH.npz",
              help="one training batch: arrays x and y (.npz or safetensors); the graph is traced for its shapes")
@click.option("--batch-size", type=click.IntRange(1, 1024), metavar="N",
              help="use the first N rows of the example file (e.g. a whole dataset) as the batch")
@click.option("--loss", type=click.Choice(["cross_entropy", "mse"]), default="cross_entropy", show_default=True,
              help="the loss the job trains with (it must match the spec's `loss`)")
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path), required=True, metavar="DIR",
              help="where to write graph.json and weights.safetensors")
@click.option("--spec", "spec_file", type=click.Path(path_type=Path), metavar="SPEC.json",
              help="also point this job spec's `model` at the exported files (version 2, kind graph)")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def export_(factory: str, example_file: Path, batch_size: int | None, loss: str, out_dir: Path,
            spec_file: Path | None, as_json: bool) -> None:
    """Call FACTORY() from MODULE.py (your code, run here) for the nn.Module with its initial weights, trace its
    joint forward + loss + backward graph for the example batch, check it as a provider will (the op allowlist,
    bounds) and write DIR/graph.json and DIR/weights.safetensors under the module's own parameter names."""
    from agora.model_export import ExportError, export, load_example, load_factory

    try:
        make = load_factory(factory)
        example = load_example(example_file, batch_size)
        summary = export(make(), example, out_dir, loss=loss)
    except ExportError as exc:
        raise CliError(str(exc)) from None
    if spec_file is not None:
        _point_spec(spec_file, summary.model_section)
    if as_json:
        echo_json(summary.to_json() | ({"spec": str(spec_file)} if spec_file else {}))
        return
    fields([
        ("graph", f"{summary.graph_path} ({summary.graph_id})"),
        ("weights", f"{summary.weights_path} ({summary.weights_id})"),
        ("nodes", summary.nodes), ("parameters", f"{summary.parameters:,}"), ("batch size", summary.batch_size),
        ("step memory", f"≤ {summary.activation_bytes / 2**20:.1f} MiB of activations"),
        ("spec model", json.dumps(summary.model_section)),
    ])
    if spec_file is not None:
        click.echo(f"{spec_file}: model now names these files")


def _point_spec(path: Path, model: dict[str, str]) -> None:
    try:
        spec = json.loads(path.read_text()) if path.exists() else None
    except (OSError, json.JSONDecodeError) as exc:
        raise CliError(f"cannot read spec {path}: {exc}") from None
    if spec is None:
        raise CliError(f"no spec {path}: write one first (docs/SPEC.md), then pass it with --spec")
    if not isinstance(spec, dict):
        raise CliError(f"spec {path} is not a JSON object")
    spec["version"] = 2
    spec["model"] = model
    path.write_text(json.dumps(spec, indent=2) + "\n")

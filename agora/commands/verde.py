"""`agora verde run SPEC.json`: train a spec locally and print its trace root — how a provider checks reproducibility."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

EXIT_BAD_INPUT = 2


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


@click.group()
def group() -> None:
    """Run job specs with the reproducible Verde core."""


@group.command()
@click.argument("spec_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--threads", type=click.IntRange(min=1), default=None, help="torch intra-op threads (results do not depend on it)")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--data", "data_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="the .npz of a sha256: dataset")
@click.option("--json", "as_json", is_flag=True, help="print only the JSON result line")
@click.option("--step-leaves", "leaves_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="also write every step leaf L[0..S] (0x-hex JSON list, by replay) to this file, to compare machines")
def run(spec_file: Path, threads: int | None, device: str, data_file: Path | None, as_json: bool,
        leaves_file: Path | None) -> None:
    """Train SPEC_FILE; the last line is {"trace_root", "final_model_hash", "final_loss", "accuracy", …}.

    A graph spec (version 2) names its graph, weights and uploaded data by sha256: they are found among the
    files beside SPEC_FILE (or --data).
    """
    from verde.datasets import DatasetError
    from verde.graph import store
    from verde.graph.format import GraphError
    from verde.runner import run_spec
    from verde.spec import SpecError, parse_spec

    try:
        raw = spec_file.read_bytes()
    except OSError as exc:
        _fail(f"cannot read {spec_file}: {exc.strerror}")
    try:
        spec = parse_spec(raw)
    except SpecError as exc:
        _fail(f"invalid spec {spec_file}: {exc}")
    data = data_file.read_bytes() if data_file is not None else None
    if spec.model.kind == "graph":
        store.add_directory(spec_file.resolve().parent)
        for aid in (spec.model.graph, spec.model.weights):
            if not store.has(aid):
                _fail(f"{spec_file}: no file beside the spec hashes to {aid}")
        if data is None and spec.dataset.id.startswith("sha256:") and store.has(spec.dataset.id):
            data = store.get(spec.dataset.id)
        from verde.graph.program import check_artifacts

        try:
            check_artifacts(spec)  # a refused graph or weights file: one line, and nothing runs
        except GraphError as exc:
            _fail(f"graph: {exc}")

    with click.progressbar(length=spec.steps, label="training", file=sys.stderr, show_pos=True) as bar:

        def on_step(step: int, loss: float) -> None:
            bar.update(1)

        try:
            result = run_spec(spec, threads=threads, device=device, data=data, on_step=on_step)
        except DatasetError as exc:
            _fail(f"dataset: {exc}")
        except GraphError as exc:
            _fail(f"graph: {exc}")
        except RuntimeError as exc:
            _fail(str(exc))
    summary = result.summary()
    if leaves_file is not None:
        trace = result.trace
        leaves = trace.step_leaves(0)
        for k in range(1, trace.n_segments):
            leaves += trace.step_leaves(k)[1:]
        leaves_file.write_text(json.dumps(["0x" + leaf.hex() for leaf in leaves]))
    if not as_json:
        for key in ("spec_hash", "trace_root", "final_model_hash", "final_loss", "accuracy", "eval_loss"):
            if key in summary:
                click.echo(f"{key:>17}: {summary[key]}")
        hashing = 100 * result.stats.hash_share
        click.echo(f"{'time':>17}: {summary['compute_s']:.2f} s compute, {hashing:.2f} % hashing")
    click.echo(json.dumps(summary))

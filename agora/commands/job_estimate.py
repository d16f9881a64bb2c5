"""`agora jobs estimate SPEC.json`: what a job needs before you pay for it — nodes, parameters, FLOPs per step,
step memory, and the collateral a provider must stake (the coordinator's policy for your price)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from agora.output import CliError, echo_json, ether, fields


def local_figures(spec: dict[str, Any], folders: list[Path]) -> dict[str, Any]:
    """Nodes, parameters, FLOPs per step and step memory from the files beside the spec (no coordinator)."""
    from agora.spec_artifacts import locate

    model = spec["model"]
    batch = int(spec["dataset"]["batch_size"])
    if model.get("kind") != "graph":
        from verde.spec import parse_spec

        params = parse_spec(spec).model.parameter_count  # type: ignore[union-attr]
        # forward 2 flops per weight per sample, backward twice that
        return {"nodes": None, "parameters": params, "flops_per_step": 6 * params * batch, "step_bytes": None}
    from agora.graph_cost import step_flops
    from verde.graph.format import GraphError, parse_graph

    where = {a.field: p for a, p in locate(spec, folders).items()}
    path = where.get("model.graph")
    if path is None:
        raise CliError(f"model.graph {model['graph']}: no file beside the spec hashes to it "
                       "(export with `agora model export ... -o DIR` and keep the spec in DIR, or pass --artifacts DIR)")
    try:
        graph = parse_graph(path.read_bytes())
    except GraphError as exc:
        raise CliError(f"{path} is refused: {exc}") from None
    return {"nodes": graph.n_nodes, "parameters": graph.parameter_count, "flops_per_step": step_flops(graph),
            "step_bytes": graph.activation_bytes}


@click.command()
@click.argument("spec_file", type=click.Path(path_type=Path), metavar="SPEC.json")
@click.option("--price", metavar="AMOUNT", help="the price you would pay (the collateral is a share of it)")
@click.option("--collateral", metavar="AMOUNT", help="ask for this collateral instead of the coordinator's policy")
@click.option("--artifacts", "artifact_dirs", multiple=True, type=click.Path(path_type=Path, file_okay=False),
              metavar="DIR", help="also look here for the files the spec names (default: the spec's folder)")
@click.option("--upload/--no-upload", default=True, show_default=True,
              help="upload the spec's files the coordinator lacks (as submit would) so it can check them")
@click.option("--key-file", type=click.Path(path_type=Path), metavar="KEY", help="the client's key (for uploads)")
@click.option("--coordinator", metavar="URL", help="coordinator URL (default: the running devnet's)")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def estimate(spec_file: Path, price: str | None, collateral: str | None, artifact_dirs: tuple[Path, ...],
             upload: bool, key_file: Path | None, coordinator: str | None, as_json: bool) -> None:
    """Print the nodes, parameters and FLOPs of one training step of SPEC.json, the memory a step needs, and —
    with --price, from the coordinator, after the same checks as submit — opsPerStep and the collateral a
    provider must stake. Nothing is created or paid."""
    from agora.commands.jobs import _client, _load_spec, _upload_artifacts, client_key, coordinator_url
    from agora.output import parse_amount

    spec = _load_spec(spec_file)
    folders = [spec_file.parent, *artifact_dirs]
    figures = local_figures(spec, folders)
    remote = None
    if price is not None:
        key = client_key(key_file).private_key if upload else None
        api = _client(coordinator_url(coordinator), key)
        if upload:
            _upload_artifacts(api, spec, folders, quiet=as_json)
        remote = api.estimate_job(spec, parse_amount(price),
                                  parse_amount(collateral) if collateral is not None else None)
    if as_json:
        echo_json({**figures, **({"coordinator": remote} if remote else {})})
        return
    mib = figures["step_bytes"] / 2**20 if figures["step_bytes"] is not None else None
    fields([
        ("nodes", figures["nodes"]),
        ("parameters", f"{figures['parameters']:,}"),
        ("FLOPs per step", f"{figures['flops_per_step']:,}"),
        ("steps", f"{spec['steps']:,} ({figures['flops_per_step'] * spec['steps']:.3g} FLOPs in all)"),
        ("step memory", f"≤ {mib:.1f} MiB of activations" if mib is not None else None),
        ("opsPerStep", remote["ops_per_step"] if remote else None),
        ("collateral", f"{ether(remote['collateral_wei'])} locked from the provider's stake" if remote else
         "pass --price AMOUNT to ask the coordinator"),
        ("min stake", ether(remote["min_stake_wei"]) if remote and remote.get("min_stake_wei") else None),
    ])

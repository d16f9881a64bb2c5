"""`agora datasets upload|show`: put a training data file on the coordinator and get back the id a spec names."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import click

from agora.commands.jobs import client_key, coordinator_option, coordinator_url, json_option, key_option
from agora.output import CliError, FriendlyGroup, echo_json, fields, table


@click.group(cls=FriendlyGroup)
def group() -> None:
    """Upload datasets (.npz or safetensors with arrays x, y and optionally x_test, y_test; see docs/SPEC.md)."""


def describe_file(path: Path) -> tuple[bytes, Any]:
    """The file's bytes and its description, checked here first so a bad file never leaves the machine."""
    from verde.tensorfile import TensorFileError, inspect

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path} ({exc.strerror}): pass the path of an .npz or safetensors file") from None
    try:
        info, _ = inspect(raw)
    except TensorFileError as exc:
        raise CliError(f"{path} is not a dataset file: {exc}") from None
    return raw, info


@group.command()
@click.argument("file", type=click.Path(path_type=Path), metavar="FILE")
@key_option
@coordinator_option
@json_option
def upload(file: Path, key_file: Path | None, coordinator: str | None, as_json: bool) -> None:
    """Upload FILE (.npz or safetensors) and print its shapes, dtypes and id `sha256:<hex>` — the value of a
    spec's `dataset.id`. Uploading the same bytes twice gives the same id."""
    from agora.commands.jobs import _client

    raw, info = describe_file(file)
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    api = _client(coordinator_url(coordinator), client_key(key_file).private_key)
    reply = api.upload_dataset(raw)
    if reply.get("id") != digest:
        raise CliError(f"the coordinator stored the upload as {reply.get('id')}, not {digest}: retry the upload")
    _report(digest, raw, info, as_json)


@group.command()
@click.argument("file", type=click.Path(path_type=Path), metavar="FILE")
@json_option
def inspect(file: Path, as_json: bool) -> None:
    """Check FILE locally (no upload): the arrays, shapes and dtypes it holds and the id it would get."""
    raw, info = describe_file(file)
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    _report(digest, raw, info, as_json)


def _report(digest: str, raw: bytes, info: Any, as_json: bool) -> None:
    arrays = [{"name": a.name, "shape": list(a.shape), "dtype": a.dtype} for a in info.arrays]
    if as_json:
        echo_json({"id": digest, "format": info.format, "kind": info.kind, "num_examples": info.num_examples,
                   "size_bytes": len(raw), "arrays": arrays})
        return
    table([(a["name"], "×".join(str(d) for d in a["shape"]), a["dtype"]) for a in arrays], ["array", "shape", "dtype"])
    fields([("format", info.format), ("kind", info.kind), ("examples", info.num_examples),
            ("size", f"{len(raw)} bytes"), ("id", digest)])

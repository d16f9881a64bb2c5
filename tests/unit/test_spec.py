"""Job spec validation (bounds, clear field-named errors) and its canonical JSON / keccak hash."""

import copy
import json

import pytest

from verde.merkle import keccak256
from verde.spec import (
    MAX_BATCH_SIZE,
    MAX_DEPTH,
    MAX_LAYER_WIDTH,
    MAX_STEPS,
    SpecError,
    canonical_json,
    parse_spec,
    spec_hash,
)

REFERENCE = {
    "version": 1,
    "model": {"kind": "mlp", "layers": [64, 128, 10], "activation": "relu"},
    "dataset": {"id": "builtin:digits", "batch_size": 32, "shuffle_seed": 7},
    "loss": "cross_entropy",
    "optimizer": {"kind": "adam", "lr": 0.001},
    "steps": 1000,
    "seed": 1234,
    "checkpoint_every": 100,
    "verification": {"replicas": 1, "spot_check": 0.25},
}


def with_(path: str, value):
    spec = copy.deepcopy(REFERENCE)
    *parents, last = path.split(".")
    node = spec
    for p in parents:
        node = node[p]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return spec


DELETE = object()


def test_parse_spec_reference_is_valid():
    spec = parse_spec(REFERENCE)
    assert spec.model.layers == [64, 128, 10]
    assert spec.optimizer.kind == "adam" and spec.optimizer.betas == (0.9, 0.999)
    assert spec.model.parameter_count == 64 * 128 + 128 + 128 * 10 + 10


def test_canonical_json_sorted_compact_with_defaults():
    raw = canonical_json(parse_spec(REFERENCE))
    assert b" " not in raw
    decoded = json.loads(raw)
    assert list(decoded) == sorted(decoded)
    assert decoded["optimizer"]["eps"] == 1e-8  # defaults are part of what is hashed


def test_spec_hash_is_keccak_of_canonical_json_and_ignores_key_order_and_defaults():
    spec = parse_spec(REFERENCE)
    h = spec_hash(spec)
    assert h == "0x" + keccak256(canonical_json(spec)).hex() and len(h) == 66
    reordered = dict(reversed(list(REFERENCE.items())))
    assert spec_hash(parse_spec(reordered)) == h
    explicit = with_("optimizer", {"kind": "adam", "lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-8,
                                   "weight_decay": 0.0})
    assert spec_hash(parse_spec(explicit)) == h
    assert spec_hash(parse_spec(with_("seed", 1235))) != h


def test_parse_spec_accepts_json_text():
    assert parse_spec(json.dumps(REFERENCE)) == parse_spec(REFERENCE)


@pytest.mark.parametrize(
    "path,value,field",
    [
        ("steps", 0, "steps"),
        ("steps", MAX_STEPS + 1, "steps"),
        ("dataset.batch_size", 0, "dataset.batch_size"),
        ("dataset.batch_size", MAX_BATCH_SIZE + 1, "dataset.batch_size"),
        ("model.layers", [64] + [16] * MAX_DEPTH + [10], "model.layers"),
        ("model.layers", [64, MAX_LAYER_WIDTH + 1, 10], "model.layers"),
        ("model.layers", [64], "model.layers"),
        ("model.layers", [64, 4096, 2048, 10], "model.layers"),  # > 5M parameters
        ("model.layers", [32, 128, 10], "model.layers"),  # digits has 64 inputs
        ("model.activation", "sigmoid", "model.activation"),
        ("checkpoint_every", 1001, "checkpoint_every"),
        ("checkpoint_every", 0, "checkpoint_every"),
        ("optimizer", {"kind": "adam", "lr": -1}, "optimizer.lr"),
        ("optimizer", {"kind": "rmsprop", "lr": 0.1}, "optimizer"),
        ("optimizer", {"kind": "sgd", "lr": 0.1, "momentum": 1.5}, "optimizer.momentum"),
        ("dataset.id", "http://example.com/x.npz", "dataset.id"),
        ("dataset.id", "builtin:synthetic-spirals", "dataset.id"),
        ("dataset.id", "sha256:abc", "dataset.id"),
        ("loss", "hinge", "loss"),
        ("version", 2, "version"),
        ("seed", -1, "seed"),
        ("verification.spot_check", 1.5, "verification.spot_check"),
        ("code", "import os", "code"),
        ("steps", DELETE, "steps"),
    ],
)
def test_parse_spec_rejects_out_of_bounds_naming_the_field(path, value, field):
    with pytest.raises(SpecError) as err:
        parse_spec(with_(path, value))
    fields = [f for f, _ in err.value.errors]
    assert any(f == field or f.startswith(field + ".") for f in fields), err.value.errors
    assert "\n" not in str(err.value)


def test_parse_spec_cross_entropy_on_regression_rejected():
    spec = with_("dataset.id", "builtin:synthetic-regression")
    spec["model"]["layers"] = [8, 16, 3]
    with pytest.raises(SpecError) as err:
        parse_spec(spec)
    assert err.value.errors[0][0] == "loss"
    spec["loss"] = "mse"
    assert parse_spec(spec).loss == "mse"


def test_parse_spec_invalid_json_is_a_spec_error():
    with pytest.raises(SpecError, match="not valid JSON"):
        parse_spec(b"{nope")
    with pytest.raises(SpecError, match="JSON object"):
        parse_spec("[1, 2]")


def test_agora_verde_run_bad_spec_is_one_line_exit_2(tmp_path):
    from click.testing import CliRunner

    from agora.cli import cli

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(with_("dataset.batch_size", 5000)))
    result = CliRunner().invoke(cli, ["verde", "run", str(bad), "--json"])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "dataset.batch_size" in result.output
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{")
    result = CliRunner().invoke(cli, ["verde", "run", str(garbage)])
    assert result.exit_code == 2 and "not valid JSON" in result.output


def test_agora_verde_run_prints_json_last_line(tmp_path):
    from click.testing import CliRunner

    from agora.cli import cli

    spec = with_("steps", 3)
    spec["checkpoint_every"] = 2
    spec["model"]["layers"] = [64, 8, 10]
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    leaves = tmp_path / "leaves.json"
    result = CliRunner().invoke(cli, ["verde", "run", str(path), "--json", "--threads", "1",
                                      "--step-leaves", str(leaves)])
    assert result.exit_code == 0, result.output
    assert len(json.loads(leaves.read_text())) == 4  # L[0..3]
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(last) >= {"trace_root", "final_model_hash", "final_loss", "accuracy"}
    assert last["trace_root"].startswith("0x") and len(last["trace_root"]) == 66
    assert last["spec_hash"] == spec_hash(parse_spec(spec))


# A spec is hashed: one job must have one spelling (issue 11, item 8).
@pytest.mark.parametrize(
    ("path", "value", "needle"),
    [
        ("steps", "200", "steps: must be an integer"),
        ("seed", 12.0, "seed: must be an integer"),
        ("checkpoint_every", True, "checkpoint_every: must be an integer"),
        ("model.layers", [64, "128", 10], "model.layers.1: must be an integer"),
        ("dataset.batch_size", "32", "dataset.batch_size: must be an integer"),
        ("optimizer.lr", "0.001", "optimizer.lr: must be a number"),
        ("verification.replicas", "1", "verification.replicas: must be an integer"),
        ("version", True, "version: must be the number 1"),
    ],
)
def test_strings_and_booleans_are_not_numbers(path, value, needle):
    with pytest.raises(SpecError) as err:
        parse_spec(json.dumps(with_(path, value)))
    assert needle in str(err.value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("path", ["optimizer.lr", "verification.spot_check"])
def test_non_finite_numbers_say_finite(path, value):
    with pytest.raises(SpecError) as err:
        parse_spec(json.dumps(with_(path, value)))  # json.dumps writes NaN/Infinity, json.loads reads them back
    assert str(err.value) == f"{path}: must be a finite number"


def test_an_integer_for_a_real_is_the_same_job():
    assert spec_hash(parse_spec(with_("optimizer.lr", 1))) == spec_hash(parse_spec(with_("optimizer.lr", 1.0)))

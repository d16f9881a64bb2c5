"""Data for graph jobs: n-dimensional inputs and int64 token sequences from .npz or safetensors, checked against
the graph's batch shapes; spec v2; `agora verde run` on a graph spec from its folder, and on hostile files."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.numpy import save as save_safetensors

from agora.commands.verde import group as verde_cli
from verde.datasets import DatasetError, check_graph_fits, load_dataset
from verde.graph import store
from verde.interpreter import Interpreter
from verde.spec import SpecError, canonical_json, parse_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CNN_SPEC = json.loads((EXAMPLES / "digits-cnn" / "spec.json").read_text())
GPT_SPEC = json.loads((EXAMPLES / "char-gpt" / "spec.json").read_text())


def _npz(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _spec_for(raw: bytes, base: dict = GPT_SPEC) -> dict:
    return {**base, "dataset": {**base["dataset"], "id": "sha256:" + hashlib.sha256(raw).hexdigest()}}


def test_token_sequences_from_npz_and_safetensors_are_int64_with_a_held_out_split():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 96, (200, 32), dtype=np.int32)
    y = np.roll(x, -1, axis=1)
    for raw in (_npz(x=x, y=y), save_safetensors({"x": x, "y": y})):
        ds = load_dataset(parse_spec(_spec_for(raw)), raw)
        assert ds.x_train.dtype == torch.int64 and ds.y_train.dtype == torch.int64
        assert ds.x_train.shape[1:] == (32,) and ds.x_train.shape[0] + ds.x_test.shape[0] == 200
        assert ds.x_test.shape[0] == 40  # HELD_OUT_FRACTION of 200
        check_graph_fits(ds, (32,), torch.int64, (32,), torch.int64)


def test_images_fit_the_graph_by_sample_size_and_own_test_split_is_kept():
    x = np.zeros((64, 1, 8, 8), dtype=np.float32)
    y = np.arange(64) % 10
    raw = _npz(x=x, y=y, x_test=x[:32], y_test=y[:32])
    ds = load_dataset(parse_spec(_spec_for(raw, CNN_SPEC)), raw)
    assert ds.x_test.shape == (32, 1, 8, 8) and ds.classes == 10
    check_graph_fits(ds, (1, 8, 8), torch.float32, (), torch.int64)
    with pytest.raises(DatasetError, match="the graph takes torch.float32 \\[1, 9, 9\\]"):
        check_graph_fits(ds, (1, 9, 9), torch.float32, (), torch.int64)


@pytest.mark.parametrize(("arrays", "message"), [
    ({"x": np.zeros((4, 32), np.int64)}, "lacks y"),
    ({"x": np.zeros((4, 32), np.int64), "y": np.zeros((5, 32), np.int64)}, "x has 4 rows"),
    ({"x": np.full((4, 32), -1, np.int64), "y": np.zeros((4, 32), np.int64)}, "negative token ids"),
    ({"x": np.zeros((4, 32), np.complex64), "y": np.zeros((4, 32), np.int64)}, "allowed dtypes are float32"),
    # the upload format's integer dtypes only (docs/SPEC.md): uint8 tokens would train here and be refused on upload
    ({"x": np.zeros((4, 32), np.uint8), "y": np.zeros((4, 32), np.uint8)}, "allowed dtypes are float32"),
    ({"x": np.full((4, 2), np.inf, np.float32), "y": np.zeros(4, np.int64)}, "not finite"),
    ({"x": np.zeros((4, 2)), "y": np.zeros(4, np.int64), "z": np.zeros(1)}, "unexpected array\\(s\\) z"),
])
def test_bad_tensor_files_are_refused_in_one_line(arrays: dict, message: str):
    raw = _npz(**arrays)
    with pytest.raises(DatasetError, match=message) as exc:
        load_dataset(parse_spec(_spec_for(raw)), raw)
    assert "\n" not in str(exc.value)


def test_a_dataset_that_does_not_fit_the_graph_is_refused_before_training():
    raw = _npz(x=np.zeros((100, 16), np.int64), y=np.zeros((100, 16), np.int64))
    store.add_directory(EXAMPLES / "char-gpt")
    with pytest.raises(DatasetError, match="the graph takes torch.int64 \\[32\\]"):
        Interpreter(_spec_for(raw), data=raw)


def test_spec_v2_graph_model_and_eval():
    spec = parse_spec(CNN_SPEC)
    assert spec.model.kind == "graph" and spec.eval is not None and spec.eval.metrics == ["loss", "accuracy"]
    assert b'"eval"' in canonical_json(spec)
    v1 = json.loads((EXAMPLES / "digits-mlp.json").read_text())
    assert b"eval" not in canonical_json(parse_spec(v1))  # v1 hashes are what they were
    for bad, field in [
        ({**CNN_SPEC, "version": 1}, "model.kind"),
        ({**CNN_SPEC, "model": {**CNN_SPEC["model"], "graph": "graph.json"}}, "model.graph"),
        ({**CNN_SPEC, "eval": {"metrics": ["loss", "loss"]}}, "eval.metrics"),
        ({**v1, "eval": {"metrics": ["loss"]}}, "eval"),
        ({**v1, "version": 2}, "version"),
    ]:
        with pytest.raises(SpecError) as exc:
            parse_spec(bad)
        assert any(f == field for f, _ in exc.value.errors), (field, exc.value.errors)


def _copy_example(tmp_path: Path, name: str, **overrides: object) -> Path:
    d = tmp_path / name
    shutil.copytree(EXAMPLES / name, d)
    spec = {**json.loads((d / "spec.json").read_text()), **overrides}
    (d / "spec.json").write_text(json.dumps(spec))
    return d / "spec.json"


def test_verde_run_finds_the_artifacts_beside_the_spec(tmp_path: Path):
    spec = _copy_example(tmp_path, "digits-cnn", steps=2, checkpoint_every=1)
    out = CliRunner().invoke(verde_cli, ["run", str(spec), "--json", "--step-leaves", str(tmp_path / "l.json")])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output.strip().splitlines()[-1])
    assert summary["ops_per_step"] == 90 and summary["trace_root"].startswith("0x")
    assert 0 <= summary["accuracy"] <= 1 and summary["eval_loss"] > 0
    assert len(json.loads((tmp_path / "l.json").read_text())) == 3  # L[0..2]


def test_verde_run_refuses_a_hostile_graph_in_one_line_and_runs_nothing(tmp_path: Path):
    spec_path = _copy_example(tmp_path, "digits-cnn", steps=2, checkpoint_every=1)
    d = spec_path.parent
    doc = json.loads((d / "graph.json").read_text())
    doc["nodes"][3]["op"] = "aten.cumsum.default"
    bad = json.dumps(doc).encode()
    (d / "graph.json").write_bytes(bad)
    spec = json.loads(spec_path.read_text())
    spec["model"]["graph"] = "sha256:" + hashlib.sha256(bad).hexdigest()
    spec_path.write_text(json.dumps(spec))
    out = CliRunner().invoke(verde_cli, ["run", str(spec_path), "--json"])
    assert out.exit_code == 2
    err = [line for line in out.output.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "node 4" in err[0] and "aten.cumsum.default" in err[0] and "not allowed" in err[0]
    assert "trace_root" not in out.output and "training" not in out.output

    spec["model"]["graph"] = "sha256:" + "0" * 64  # no file has these bytes
    spec_path.write_text(json.dumps(spec))
    out = CliRunner().invoke(verde_cli, ["run", str(spec_path), "--json"])
    assert out.exit_code == 2 and "no file beside the spec hashes to" in out.output

"""Datasets: built-in digits, seeded synthetic data, validated .npz uploads, and batches as a pure function of the step."""

import copy
import hashlib
import io

import numpy as np
import pytest
import torch

from verde import datasets
from verde.datasets import DatasetError, batch, batch_indices, load_dataset
from verde.spec import parse_spec
from verde.tensorhash import tensor_hash

BASE = {
    "version": 1,
    "model": {"kind": "mlp", "layers": [64, 32, 10], "activation": "relu"},
    "dataset": {"id": "builtin:digits", "batch_size": 32, "shuffle_seed": 7},
    "loss": "cross_entropy",
    "optimizer": {"kind": "adam", "lr": 0.001},
    "steps": 100,
    "seed": 1234,
    "checkpoint_every": 10,
}


def spec_with(**changes):
    spec = copy.deepcopy(BASE)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(spec.get(key), dict):
            spec[key].update(value)
        else:
            spec[key] = value
    return parse_spec(spec)


def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def upload(raw: bytes) -> dict:
    return {"dataset": {"id": "sha256:" + hashlib.sha256(raw).hexdigest()}}


def test_load_dataset_digits_split_is_fixed_and_disjoint():
    ds = load_dataset(spec_with())
    assert ds.x_train.shape == (1438, 64) and ds.x_test.shape == (359, 64)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert float(ds.x_train.min()) >= 0.0 and float(ds.x_train.max()) <= 1.0
    assert set(ds.y_test.tolist()) == set(range(10))
    # the split does not depend on the job's seeds
    other = load_dataset(spec_with(seed=99, dataset={"shuffle_seed": 3}))
    assert torch.equal(ds.x_test, other.x_test)
    train_rows = {tuple(r) for r in ds.x_train.tolist()}
    overlap = sum(tuple(r) in train_rows for r in ds.x_test.tolist())
    assert overlap < 5  # digits has a few duplicate images; otherwise disjoint


def test_batch_is_pure_function_of_spec_and_step():
    spec = spec_with()
    a, b = load_dataset(spec), load_dataset(spec)
    for step in (1, 2, 44, 45, 300):
        xa, ya = batch(spec, a, step)
        xb, yb = batch(spec, b, step)
        assert tensor_hash(xa) == tensor_hash(xb) and torch.equal(ya, yb)
        assert xa.shape == (32, 64)
    assert not torch.equal(batch(spec, a, 1)[0], batch(spec, a, 2)[0])
    # a different shuffle seed gives a different order
    assert not torch.equal(batch(spec_with(dataset={"shuffle_seed": 8}), a, 1)[1], batch(spec, a, 1)[1])


def test_batch_indices_cover_an_epoch_without_repeats():
    spec = spec_with()
    ds = load_dataset(spec)
    per_epoch = ds.n_train // 32
    idx = torch.cat([batch_indices(spec, ds, s) for s in range(1, per_epoch + 1)])
    assert len(set(idx.tolist())) == per_epoch * 32
    # the next epoch is a different permutation
    nxt = torch.cat([batch_indices(spec, ds, s) for s in range(per_epoch + 1, 2 * per_epoch + 1)])
    assert not torch.equal(idx, nxt)


def test_load_dataset_synthetic_blobs_depends_on_seed_only():
    spec = spec_with(model={"layers": [6, 16, 4]}, dataset={"id": "builtin:synthetic-blobs"})
    a, b = load_dataset(spec), load_dataset(spec)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_train, b.y_train)
    assert a.x_train.shape[1] == 6 and set(a.y_train.tolist()) == {0, 1, 2, 3}
    c = load_dataset(spec_with(seed=5, model={"layers": [6, 16, 4]}, dataset={"id": "builtin:synthetic-blobs"}))
    assert not torch.equal(a.x_train, c.x_train)


def test_load_dataset_synthetic_regression_targets_for_mse():
    spec = spec_with(loss="mse", model={"layers": [5, 16, 2]}, dataset={"id": "builtin:synthetic-regression"})
    ds = load_dataset(spec)
    assert ds.classes is None and ds.y_train.shape[1] == 2 and ds.y_train.dtype == torch.float32
    _x, y = batch(spec, ds, 3)
    assert y.shape == (32, 2)


def test_batch_mse_on_labels_is_one_hot():
    spec = spec_with(loss="mse")
    _x, y = batch(spec, load_dataset(spec), 1)
    assert y.shape == (32, 10) and torch.equal(y.sum(dim=1), torch.ones(32))


def test_load_dataset_npz_valid_with_and_without_test_split():
    x = np.random.default_rng(0).random((100, 64)).astype(np.float64)
    y = np.arange(100) % 10
    raw = npz_bytes(x=x, y=y)
    ds = load_dataset(spec_with(**upload(raw)), raw)
    assert ds.n_train == 80 and ds.x_train.dtype == torch.float32 and ds.classes == 10
    raw2 = npz_bytes(x=x, y=y, x_test=x[:7], y_test=y[:7])
    ds2 = load_dataset(spec_with(**upload(raw2)), raw2)
    assert ds2.n_train == 100 and ds2.x_test.shape == (7, 64)


@pytest.mark.parametrize(
    "arrays,message",
    [
        ({"x": np.zeros((50, 64), np.float32)}, "lacks y"),
        ({"x": np.zeros((50, 63), np.float32), "y": np.zeros(50, np.int64)}, "must be \\(n, 64\\)"),
        ({"x": np.full((50, 64), np.nan, np.float32), "y": np.zeros(50, np.int64)}, "not finite"),
        ({"x": np.full((50, 64), 1e300), "y": np.zeros(50, np.int64)}, "not finite"),
        ({"x": np.zeros((50, 64), np.float32), "y": np.full(50, 10)}, "labels must lie in 0..9"),
        ({"x": np.zeros((50, 64), np.float32), "y": np.zeros(49, np.int64)}, "x has 50 rows"),
        ({"x": np.zeros((50, 64), np.int32), "y": np.zeros(50, np.int64)}, "needs integer next-token targets"),
        # the documented layout's dtypes only (what the coordinator accepts for upload): uint8 labels are refused
        # here too, not trained locally and then refused on upload
        ({"x": np.zeros((50, 64), np.float32), "y": np.zeros(50, np.uint8)}, "allowed dtypes are float32, float64"),
        ({"x": np.zeros((50, 64), np.float16), "y": np.zeros(50, np.int64)}, "allowed dtypes are float32, float64"),
        ({"x": np.zeros((50, 64), np.float32), "y": np.zeros(50, np.float32)}, "integer class labels"),
        ({"x": np.zeros((50, 64), np.float32), "y": np.zeros(50, np.int64), "z": np.zeros(1)}, "unexpected"),
        ({"x": np.zeros((10, 64), np.float32), "y": np.zeros(10, np.int64)}, "batch_size 32 exceeds"),
        ({"x": np.array([{"a": 1}] * 50, dtype=object), "y": np.zeros(50, np.int64)}, "unreadable|must be"),
    ],
)
def test_load_dataset_npz_rejects_bad_uploads(arrays, message):
    with pytest.raises(DatasetError, match=message):
        raw = npz_bytes(**arrays)
        load_dataset(spec_with(**upload(raw)), raw)


def test_load_dataset_npz_size_bound_checked_before_loading(monkeypatch):
    monkeypatch.setattr(datasets, "MAX_NPZ_BYTES", 1000)
    raw = npz_bytes(x=np.zeros((100, 64), np.float32), y=np.zeros(100, np.int64))
    with pytest.raises(DatasetError, match="at most 1000"):
        load_dataset(spec_with(**upload(raw)), raw)


def test_load_dataset_npz_requires_data_and_rejects_garbage():
    with pytest.raises(DatasetError, match="pass its .npz"):
        load_dataset(spec_with(**upload(b"")))
    with pytest.raises(DatasetError, match="not a dataset file: expected an .npz"):
        load_dataset(spec_with(**upload(b"hello")), b"hello")
    with pytest.raises(DatasetError, match="hashes to"):
        load_dataset(spec_with(**upload(b"hello")), b"hellO")
    with pytest.raises(DatasetError, match="built in"):
        load_dataset(spec_with(), b"hello")

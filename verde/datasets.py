"""Training data for a job: built-in datasets, generated ones, uploaded ``.npz`` files, and the batch of each step.

* ``builtin:digits`` — scikit-learn's 8×8 digits (1797 images, ships with the package), pixels / 16 as
  float32, labels 0..9.
* ``builtin:synthetic-blobs`` — classification: ``layers[-1]`` centres in ``[-2, 2]^d`` and uniform noise
  in ``[-1, 1]^d`` around them; ``builtin:synthetic-regression`` — ``y = x W / sqrt(d) + noise`` with ``x``
  uniform in ``[-1, 1]^d``. Both are generated from the spec's ``seed`` with ``verde.rng`` and RepOps only,
  so every machine builds the same bits.
* ``sha256:<hex>`` — an uploaded ``.npz`` with ``x`` (n×d float) and ``y`` (n integer labels, or n×out /
  n float targets), optionally ``x_test``/``y_test``. The caller fetches the bytes by id; this module
  checks that they hash to the id and validates them (keys, shapes, dtypes, finiteness, size bounds;
  pickles are refused).

Graph specs (v2) take n-dimensional data (``verde.graph`` checks it against the graph's batch shapes), from an
``.npz`` or a safetensors file with the same keys:

* ``x`` — ``(n, ...)`` float32/float64 inputs (images ``n×c×h×w``, or ``n×d`` reshaped to the graph's sample
  shape when the sizes agree), or integer token ids ``(n, T)`` (any integer dtype, values in 0..2**31-1, held
  as int64);
* ``y`` — integer labels ``(n,)`` or ``(n, T)`` (next-token targets: ``y[i, t]`` is the token after
  ``x[i, t]``), held as int64, or float targets shaped like the graph's ``y``;
* optionally ``x_test``/``y_test`` the same way. At most ``MAX_SAMPLES`` samples and ``MAX_NPZ_BYTES`` bytes.

Unless the data brings its own test split, a fixed counter-RNG permutation (``SPLIT_SEED``, independent
of the job) holds out ``HELD_OUT_FRACTION`` of the samples. Step ``s`` (1-based) trains on batch
``(s-1) mod E`` of epoch ``(s-1) div E`` (``E = n_train div batch_size``; the last partial batch of an
epoch is dropped), whose order is ``verde.rng.permutation(shuffle_seed, epoch, n_train)`` — so a
batch is a pure function of (spec, data, step).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from verde import repops, rng, tensorfile
from verde.spec import JobSpec

SPLIT_SEED = 0x61676F7261  # "agora": the held-out split must not depend on the job
HELD_OUT_FRACTION = 0.2
SYNTHETIC_SAMPLES = 4096
MAX_SAMPLES = 1_000_000
MAX_NPZ_BYTES = 256 * 2**20  # uncompressed size of all arrays together
_BLOB_SPREAD = 2.0
_REGRESSION_NOISE = 0.05


class DatasetError(ValueError):
    """Data that cannot serve the spec (wrong keys, shapes, dtypes, values or size)."""


@dataclass
class Dataset:
    x_train: Tensor  # float32 (n, d)
    y_train: Tensor  # int64 (n,) labels when classes is set, else float32 (n, out)
    x_test: Tensor
    y_test: Tensor
    classes: int | None  # None for regression targets
    _epochs: dict[tuple[int, int], Tensor] = field(default_factory=dict, repr=False)

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])


def load_dataset(spec: JobSpec, data: bytes | str | Path | None = None) -> Dataset:
    """The dataset of ``spec``; ``data`` (bytes or a path) is required for, and only for, ``sha256:`` ids."""
    ds_id = spec.dataset.id
    if ds_id.startswith("sha256:"):
        if data is None:
            raise DatasetError(f"dataset {ds_id} is an upload: pass its .npz bytes or path")
        raw = data if isinstance(data, bytes) else Path(data).read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        if "sha256:" + digest != ds_id:
            raise DatasetError(f"the data handed in hashes to sha256:{digest}, not {ds_id}")
        arrays = _read_arrays(raw)
        ds = _graph_data(arrays) if spec.model.kind == "graph" else _from_npz(spec, arrays)
    elif data is not None:
        raise DatasetError(f"dataset {ds_id} is built in; no data should be passed")
    elif ds_id == "builtin:digits":
        ds = _digits()
    elif spec.model.kind == "graph":
        raise DatasetError(f"dataset {ds_id}: graph jobs take builtin:digits or an uploaded tensor file")
    elif spec.dataset.synthetic_kind == "blobs":
        ds = _blobs(spec)
    elif spec.dataset.synthetic_kind == "regression":
        ds = _regression(spec)
    else:  # parse_spec already rejects unknown ids
        raise DatasetError(f"unknown dataset {ds_id}")
    _check_fits(spec, ds)
    return ds


def batch_indices(spec: JobSpec, ds: Dataset, step: int) -> Tensor:
    """Indices into the training set used by step ``step`` (1-based)."""
    if step < 1:
        raise ValueError(f"steps count from 1, got {step}")
    bs = spec.dataset.batch_size
    per_epoch = ds.n_train // bs
    epoch, pos = divmod(step - 1, per_epoch)
    key = (spec.dataset.shuffle_seed, epoch)
    perm = ds._epochs.get(key)
    if perm is None:
        perm = rng.permutation(spec.dataset.shuffle_seed, epoch, ds.n_train)
        if len(ds._epochs) > 4:  # training walks forward; a replay rarely needs old epochs again
            ds._epochs.clear()
        ds._epochs[key] = perm
    return perm[pos * bs:(pos + 1) * bs]


def batch(spec: JobSpec, ds: Dataset, step: int, device: str | torch.device = "cpu") -> tuple[Tensor, Tensor]:
    """The ``(x, y)`` of step ``step``: float32 inputs, and int64 labels (cross_entropy) or float32 targets (mse)."""
    idx = batch_indices(spec, ds, step)
    x = ds.x_train.index_select(0, idx)
    y = targets(spec, ds, ds.y_train.index_select(0, idx))
    return x.to(device), y.to(device)


def targets(spec: JobSpec, ds: Dataset, y: Tensor) -> Tensor:
    """Labels as the loss wants them: as-is for cross_entropy and regression, one-hot float32 for mse on labels."""
    if spec.loss == "mse" and ds.classes is not None:
        return torch.nn.functional.one_hot(y, ds.classes).to(torch.float32)
    return y


def _split(x: Tensor, y: Tensor, classes: int | None) -> Dataset:
    n = int(x.shape[0])
    perm = rng.permutation(SPLIT_SEED, "held-out", n)
    n_test = int(n * HELD_OUT_FRACTION)
    test, train = perm[:n_test], perm[n_test:]
    return Dataset(x[train].contiguous(), y[train].contiguous(), x[test].contiguous(), y[test].contiguous(), classes)


_DIGITS: Dataset | None = None


def _digits() -> Dataset:
    global _DIGITS
    if _DIGITS is None:
        data = _digits_table()
        # /16 is exact in float32 (pixels are 0..16), so no rounding question arises.
        x = torch.from_numpy(np.ascontiguousarray(data[:, :-1], dtype=np.float32)) / 16.0
        y = torch.from_numpy(data[:, -1].astype(np.int64))
        _DIGITS = _split(x, y, 10)
    d = _DIGITS
    return Dataset(d.x_train, d.y_train, d.x_test, d.y_test, d.classes)


def _digits_table() -> np.ndarray:
    """scikit-learn's digits.csv.gz (what ``load_digits`` reads), found without importing sklearn (seconds)."""
    found = importlib.util.find_spec("sklearn")
    if found is None or not found.submodule_search_locations:
        raise DatasetError("builtin:digits needs scikit-learn installed")
    path = Path(next(iter(found.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"
    with gzip.open(path, "rt") as fh:
        return np.loadtxt(fh, delimiter=",")


def _signed_uniform(seed: int, stream: str, shape: tuple[int, ...]) -> Tensor:
    # u in [0, 1) -> [-1, 1): both steps exact in float32
    return rng.uniform(seed, stream, shape).mul_(2.0).sub_(1.0)


def _blobs(spec: JobSpec) -> Dataset:
    d, k = spec.model.layers[0], spec.model.layers[-1]
    centres = _signed_uniform(spec.seed, "blobs.centres", (k, d)).mul_(_BLOB_SPREAD)
    labels = rng.randint(spec.seed, "blobs.labels", k, SYNTHETIC_SAMPLES)
    noise = _signed_uniform(spec.seed, "blobs.noise", (SYNTHETIC_SAMPLES, d))
    x = repops.add(centres.index_select(0, labels), noise)
    return _split(x, labels, k)


def _regression(spec: JobSpec) -> Dataset:
    d, out = spec.model.layers[0], spec.model.layers[-1]
    x = _signed_uniform(spec.seed, "regression.x", (SYNTHETIC_SAMPLES, d))
    w = _signed_uniform(spec.seed, "regression.w", (d, out))
    noise = repops.scale(_signed_uniform(spec.seed, "regression.noise", (SYNTHETIC_SAMPLES, out)), _REGRESSION_NOISE)
    y = repops.add(repops.scale(repops.matmul(x, w), 1.0 / math.sqrt(d)), noise)
    return _split(x, y, None)


def _from_npz(spec: JobSpec, arrays: dict[str, np.ndarray]) -> Dataset:
    missing = {"x", "y"} - set(arrays)
    if missing:
        raise DatasetError(f".npz lacks {', '.join(sorted(missing))} (needs x and y)")
    extra = set(arrays) - {"x", "y", "x_test", "y_test"}
    if extra:
        raise DatasetError(f".npz has unexpected arrays {', '.join(sorted(extra))}")
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise DatasetError(".npz needs both x_test and y_test, or neither")
    classification = spec.loss == "cross_entropy" or np.issubdtype(arrays["y"].dtype, np.integer)
    classes = spec.model.layers[-1] if classification else None
    x, y = _check_xy(spec, arrays["x"], arrays["y"], classes, "x", "y")
    if "x_test" in arrays:
        xt, yt = _check_xy(spec, arrays["x_test"], arrays["y_test"], classes, "x_test", "y_test")
        return Dataset(x, y, xt, yt, classes)
    return _split(x, y, classes)


def _check_xy(spec: JobSpec, x: np.ndarray, y: np.ndarray, classes: int | None, xn: str, yn: str
              ) -> tuple[Tensor, Tensor]:
    d, out = spec.model.layers[0], spec.model.layers[-1]
    if x.ndim != 2 or x.shape[1] != d:
        raise DatasetError(f"{xn} must be (n, {d}) for a model with {d} inputs, got shape {x.shape}")
    n = x.shape[0]
    if not 1 <= n <= MAX_SAMPLES:
        raise DatasetError(f"{xn} has {n} samples, allowed 1..{MAX_SAMPLES}")
    if x.dtype not in (np.float32, np.float64):
        raise DatasetError(f"{xn} must be float32 or float64, got {x.dtype}")
    with np.errstate(over="ignore"):  # overflow to inf is reported just below
        x32 = np.ascontiguousarray(x, dtype=np.float32)  # one correctly rounded cast, the same everywhere
    if not np.isfinite(x32).all():
        raise DatasetError(f"{xn} has values that are not finite in float32")
    if y.shape[:1] != (n,):
        raise DatasetError(f"{yn} must have {n} rows like {xn}, got shape {y.shape}")
    if classes is not None:
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise DatasetError(f"{yn} must be a 1-D array of integer class labels, got {y.dtype} {y.shape}")
        if n and (y.min() < 0 or y.max() >= classes):
            raise DatasetError(f"{yn} labels must lie in 0..{classes - 1} (the model has {classes} outputs)")
        return torch.from_numpy(x32), torch.from_numpy(y.astype(np.int64))
    if y.ndim == 1 and out == 1:
        y = y.reshape(n, 1)
    if y.ndim != 2 or y.shape[1] != out or y.dtype not in (np.float32, np.float64):
        raise DatasetError(f"{yn} must be float (n, {out}) targets for mse, got {y.dtype} {y.shape}")
    with np.errstate(over="ignore"):
        y32 = np.ascontiguousarray(y, dtype=np.float32)
    if not np.isfinite(y32).all():
        raise DatasetError(f"{yn} has values that are not finite in float32")
    return torch.from_numpy(x32), torch.from_numpy(y32)


def _read_arrays(raw: bytes) -> dict[str, np.ndarray]:
    """The arrays of an uploaded tensor file (safetensors or ``.npz``: no code in either, no pickles), checked
    against the one documented layout (verde.tensorfile, docs/SPEC.md): what a worker trains on is exactly what
    the coordinator accepts for upload."""
    try:
        return tensorfile.inspect(raw, max_bytes=MAX_NPZ_BYTES)[1]
    except tensorfile.TensorFileError as exc:
        raise DatasetError(str(exc)) from None


_MAX_TOKEN = 2**31 - 1


def _graph_array(a: np.ndarray, name: str) -> Tensor:
    if a.ndim < 1 or not 1 <= a.shape[0] <= MAX_SAMPLES:
        raise DatasetError(f"{name} must be (n, ...) with 1..{MAX_SAMPLES} samples, got shape {a.shape}")
    if np.issubdtype(a.dtype, np.integer):
        if a.size and (a.min() < 0 or a.max() > _MAX_TOKEN):
            raise DatasetError(f"{name}: integer labels/tokens must lie in 0..{_MAX_TOKEN}")
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64))
    if a.dtype not in (np.float32, np.float64):
        raise DatasetError(f"{name} must be float32/float64 or integer, got {a.dtype}")
    with np.errstate(over="ignore"):
        a32 = np.ascontiguousarray(a, dtype=np.float32)
    if not np.isfinite(a32).all():
        raise DatasetError(f"{name} has values that are not finite in float32")
    return torch.from_numpy(a32)


def _graph_data(arrays: dict[str, np.ndarray]) -> Dataset:
    missing = {"x", "y"} - set(arrays)
    if missing:
        raise DatasetError(f"tensor file lacks {', '.join(sorted(missing))} (needs x and y)")
    extra = set(arrays) - {"x", "y", "x_test", "y_test"}
    if extra:
        raise DatasetError(f"tensor file has unexpected arrays {', '.join(sorted(extra))}")
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise DatasetError("tensor file needs both x_test and y_test, or neither")
    t = {k: _graph_array(v, k) for k, v in arrays.items()}
    for xn, yn in (("x", "y"), ("x_test", "y_test")):
        if xn in t and t[xn].shape[0] != t[yn].shape[0]:
            raise DatasetError(f"{yn} must have {t[xn].shape[0]} rows like {xn}, got {t[yn].shape[0]}")
    labels = t["y"].dtype == torch.int64
    classes = int(max(int(v.max()) for k, v in t.items() if k.startswith("y"))) + 1 if labels else None
    if "x_test" in t:
        return Dataset(t["x"], t["y"], t["x_test"], t["y_test"], classes)
    return _split(t["x"], t["y"], classes)


def check_graph_fits(ds: Dataset, x_shape: tuple[int, ...], x_dtype: torch.dtype, y_shape: tuple[int, ...],
                     y_dtype: torch.dtype) -> None:
    """Data whose samples fit a graph's batch inputs ``x``/``y`` (shapes without the batch dimension)."""
    for xs, ys, part in ((ds.x_train, ds.y_train, "x/y"), (ds.x_test, ds.y_test, "x_test/y_test")):
        if xs.shape[0] == 0:
            continue
        if xs.dtype != x_dtype or math.prod(xs.shape[1:]) != math.prod(x_shape):
            raise DatasetError(f"{part}: samples are {xs.dtype} {list(xs.shape[1:])}, the graph takes "
                               f"{x_dtype} {list(x_shape)}")
        if ys.dtype != y_dtype or tuple(ys.shape[1:]) != tuple(y_shape):
            raise DatasetError(f"{part}: targets are {ys.dtype} {list(ys.shape[1:])}, the graph takes "
                               f"{y_dtype} {list(y_shape)}")


def _check_fits(spec: JobSpec, ds: Dataset) -> None:
    if ds.n_train < spec.dataset.batch_size:
        raise DatasetError(
            f"dataset.batch_size {spec.dataset.batch_size} exceeds the {ds.n_train} training samples"
        )
    if spec.loss == "cross_entropy" and ds.classes is None:
        raise DatasetError("loss cross_entropy needs integer class labels")

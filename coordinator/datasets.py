"""Validation of uploaded `.npz` datasets: arrays `x` and `y`, numeric, finite, one example per row."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

import numpy as np

# An .npz is a zip: bound what it expands to so a small upload cannot become a memory bomb.
MAX_EXPANSION = 4


class DatasetError(ValueError):
    """The bytes are not an acceptable dataset; the message says why."""


@dataclass(frozen=True)
class DatasetInfo:
    num_examples: int
    x_shape: list[int]
    y_shape: list[int]
    x_dtype: str
    y_dtype: str


def inspect_npz(data: bytes, max_bytes: int) -> DatasetInfo:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        names = set(zf.namelist())
        expanded = sum(i.file_size for i in zf.infolist())
    except zipfile.BadZipFile as exc:
        raise DatasetError("not an .npz file (not a zip archive)") from exc
    if expanded > max(max_bytes, len(data)) * MAX_EXPANSION:
        raise DatasetError(f"archive expands to {expanded} bytes, above the limit")
    missing = {"x.npy", "y.npy"} - names
    if missing:
        raise DatasetError(f"missing array(s): {', '.join(sorted(n[:-4] for n in missing))}; need x and y")
    extra = names - {"x.npy", "y.npy"}
    if extra:
        raise DatasetError(f"unexpected array(s): {', '.join(sorted(extra))}; only x and y are allowed")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            x = npz["x"]
            y = npz["y"]
    except Exception as exc:  # numpy raises ValueError/OSError/EOFError for corrupt members
        raise DatasetError(f"cannot read arrays: {exc}") from exc
    for name, arr in (("x", x), ("y", y)):
        if arr.dtype.kind not in "biuf":
            raise DatasetError(f"{name} must be numeric, got dtype {arr.dtype}")
        if arr.ndim == 0:
            raise DatasetError(f"{name} must have one row per example, got a scalar")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise DatasetError(f"{name} contains NaN or infinite values")
    if x.ndim != 2:
        raise DatasetError(f"x must be 2-D (examples, features), got shape {list(x.shape)}")
    if y.ndim not in (1, 2):
        raise DatasetError(f"y must be 1-D (labels) or 2-D (targets), got shape {list(y.shape)}")
    if x.shape[0] != y.shape[0]:
        raise DatasetError(f"x has {x.shape[0]} rows but y has {y.shape[0]}")
    if x.shape[0] == 0:
        raise DatasetError("dataset is empty")
    return DatasetInfo(
        num_examples=int(x.shape[0]),
        x_shape=[int(d) for d in x.shape],
        y_shape=[int(d) for d in y.shape],
        x_dtype=str(x.dtype),
        y_dtype=str(y.dtype),
    )

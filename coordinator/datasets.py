"""Validation of uploaded datasets: the tensor-file format of verde.tensorfile (.npz or safetensors)."""

from __future__ import annotations

from dataclasses import dataclass

from verde.tensorfile import TensorFileError
from verde.tensorfile import inspect as inspect_file

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


def inspect_dataset(data: bytes, max_bytes: int) -> DatasetInfo:
    """Shapes and dtypes of an uploaded dataset file, or `DatasetError` saying in one line what is wrong.

    An .npz may expand (it is a zip): what the arrays take in memory is bounded by a few times the upload limit.
    """
    try:
        info, _ = inspect_file(data, max_bytes=max(max_bytes, len(data)) * MAX_EXPANSION)
    except TensorFileError as exc:
        raise DatasetError(str(exc)) from None
    x, y = info.array("x"), info.array("y")
    assert x is not None and y is not None
    return DatasetInfo(
        num_examples=info.num_examples,
        x_shape=list(x.shape),
        y_shape=list(y.shape),
        x_dtype=x.dtype,
        y_dtype=y.dtype,
    )

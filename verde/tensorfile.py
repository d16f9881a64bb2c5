"""The tensor-file format of uploaded datasets (docs/SPEC.md "Datasets"): an ``.npz`` or a safetensors file.

Both formats are plain data: an ``.npz`` is read with ``allow_pickle=False``, a safetensors file is a JSON
header plus raw little-endian bytes. Nothing in a file is executed. Sizes are checked from the headers
*before* any array is decompressed or copied, so a small upload cannot expand into a memory bomb.

Arrays (names are the keys of the file):

* ``x`` — the inputs, one example per row: float32/float64 features ``(n, d)`` or images ``(n, c, h, w)``
  (2 to 5 dimensions), or int32/int64 token ids ``(n, T)``;
* ``y`` — the targets, ``n`` rows like ``x``: integer class labels ``(n,)``, float regression targets
  ``(n,)`` / ``(n, out)``, or integer next-token targets ``(n, T)``;
* ``x_test``, ``y_test`` — optionally, a held-out split of the same layout (both or neither).

``read_arrays`` parses either format into numpy arrays; ``describe`` checks the layout above, which does not
depend on a model (whether the shapes fit a model is checked when a spec names the dataset).
"""

from __future__ import annotations

import io
import json
import math
import struct
import zipfile
from dataclasses import dataclass

import numpy as np

KEYS = ("x", "y", "x_test", "y_test")
MAX_ROWS = 1_000_000
MAX_ARRAY_DIMS = 5
MAX_UNCOMPRESSED_BYTES = 256 * 2**20  # all arrays together, as they sit in memory
MAX_HEADER_BYTES = 1 * 2**20  # a safetensors JSON header; ours has at most four entries

FLOAT_DTYPES = ("float32", "float64")
INT_DTYPES = ("int32", "int64")
_SAFETENSORS_DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64}


class TensorFileError(ValueError):
    """Bytes that are not a dataset file in the documented format; the message says why in one line."""


@dataclass(frozen=True)
class ArrayInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class DatasetFile:
    """What an upload holds: its format and its arrays' shapes and dtypes, in ``KEYS`` order."""

    format: str  # "npz" or "safetensors"
    arrays: tuple[ArrayInfo, ...]

    def array(self, name: str) -> ArrayInfo | None:
        return next((a for a in self.arrays if a.name == name), None)

    @property
    def num_examples(self) -> int:
        x = self.array("x")
        assert x is not None
        return x.shape[0]

    @property
    def kind(self) -> str:
        """``tokens`` (integer x), ``classification`` (integer labels) or ``regression`` (float targets)."""
        x, y = self.array("x"), self.array("y")
        assert x is not None and y is not None
        if x.dtype in INT_DTYPES:
            return "tokens"
        return "classification" if y.dtype in INT_DTYPES else "regression"


def sniff_format(raw: bytes) -> str:
    """``npz`` for a zip archive, ``safetensors`` for a plausible safetensors header, else an error."""
    if raw[:4] == b"PK\x03\x04" or raw[:4] == b"PK\x05\x06":
        return "npz"
    if len(raw) >= 10 and raw[8:9] == b"{":
        return "safetensors"
    raise TensorFileError("not a dataset file: expected an .npz (zip) or a safetensors file")


def read_arrays(raw: bytes, *, max_bytes: int = MAX_UNCOMPRESSED_BYTES) -> tuple[str, dict[str, np.ndarray]]:
    """``(format, {name: array})`` from the bytes of an ``.npz`` or safetensors file, within ``max_bytes``."""
    fmt = sniff_format(raw)
    arrays = _read_npz(raw, max_bytes) if fmt == "npz" else _read_safetensors(raw, max_bytes)
    return fmt, arrays


def inspect(raw: bytes, *, max_bytes: int = MAX_UNCOMPRESSED_BYTES) -> tuple[DatasetFile, dict[str, np.ndarray]]:
    """Read and check a dataset file: its description and its arrays (a ``TensorFileError`` if it is not one)."""
    fmt, arrays = read_arrays(raw, max_bytes=max_bytes)
    return describe(fmt, arrays), arrays


def describe(fmt: str, arrays: dict[str, np.ndarray]) -> DatasetFile:
    """Check the documented layout (keys, dtypes, dimensions, rows, finite floats) and describe it."""
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        raise TensorFileError(f"the file lacks {' and '.join(missing)} (a dataset needs arrays x and y)")
    extra = sorted(set(arrays) - set(KEYS))
    if extra:
        raise TensorFileError(f"unexpected array(s) {', '.join(extra)}: only x, y, x_test, y_test are allowed")
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise TensorFileError("the file needs both x_test and y_test, or neither")
    _check_pair(arrays["x"], arrays["y"], "x", "y")
    if "x_test" in arrays:
        xt, yt = arrays["x_test"], arrays["y_test"]
        _check_pair(xt, yt, "x_test", "y_test")
        x, y = arrays["x"], arrays["y"]
        if xt.shape[1:] != x.shape[1:] or _family(xt) != _family(x):
            raise TensorFileError(f"x_test is {xt.dtype} {_shape(xt)} but x is {x.dtype} {_shape(x)}: "
                                  "a held-out split must have the training data's layout")
        if yt.shape[1:] != y.shape[1:] or _family(yt) != _family(y):
            raise TensorFileError(f"y_test is {yt.dtype} {_shape(yt)} but y is {y.dtype} {_shape(y)}: "
                                  "a held-out split must have the training data's layout")
    infos = tuple(ArrayInfo(k, tuple(int(d) for d in arrays[k].shape), str(arrays[k].dtype))
                  for k in KEYS if k in arrays)
    return DatasetFile(fmt, infos)


def _family(a: np.ndarray) -> str:
    return "int" if str(a.dtype) in INT_DTYPES else "float"


def _shape(a: np.ndarray) -> str:
    return "(" + ", ".join(str(d) for d in a.shape) + ")"


def _check_pair(x: np.ndarray, y: np.ndarray, xn: str, yn: str) -> None:
    for name, arr in ((xn, x), (yn, y)):
        if str(arr.dtype) not in FLOAT_DTYPES + INT_DTYPES:
            raise TensorFileError(f"{name} is {arr.dtype}; allowed dtypes are float32, float64, int32, int64")
        if not 1 <= arr.ndim <= MAX_ARRAY_DIMS:
            raise TensorFileError(f"{name} has shape {_shape(arr)}: 1 to {MAX_ARRAY_DIMS} dimensions allowed")
        if arr.dtype.kind == "f":
            with np.errstate(over="ignore"):  # overflow to inf is exactly what is refused here
                if not np.isfinite(arr.astype(np.float32, copy=False)).all():
                    raise TensorFileError(f"{name} has values that are not finite in float32 (NaN, inf, overflow)")
    n = x.shape[0]
    if not 1 <= n <= MAX_ROWS:
        raise TensorFileError(f"{xn} has {n} rows, allowed 1..{MAX_ROWS}")
    if y.shape[:1] != (n,):
        raise TensorFileError(f"{yn} has shape {_shape(y)} but {xn} has {n} rows: one target row per example")
    if x.ndim < 2:
        raise TensorFileError(f"{xn} has shape {_shape(x)}: one row per example, at least (n, features)")
    if str(x.dtype) in INT_DTYPES:
        # token ids: (n, T) inputs with (n, T) next-token targets
        if x.ndim != 2:
            raise TensorFileError(f"integer {xn} is token ids and must be (n, T), got {_shape(x)}")
        if str(y.dtype) not in INT_DTYPES or y.shape != x.shape:
            raise TensorFileError(f"token {xn} {_shape(x)} needs integer next-token targets {yn} of the same "
                                  f"shape, got {y.dtype} {_shape(y)}")
        for name, arr in ((xn, x), (yn, y)):
            if arr.size and int(arr.min()) < 0:
                raise TensorFileError(f"{name} has negative token ids")
    elif str(y.dtype) in INT_DTYPES:
        if y.ndim != 1:
            raise TensorFileError(f"integer {yn} is class labels and must be (n,), got {_shape(y)}")
        if y.size and int(y.min()) < 0:
            raise TensorFileError(f"{yn} has negative class labels")
    elif y.ndim > 2:
        raise TensorFileError(f"float {yn} is regression targets and must be (n,) or (n, out), got {_shape(y)}")


def _read_npz(raw: bytes, max_bytes: int) -> dict[str, np.ndarray]:
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            infos = zf.infolist()
    except zipfile.BadZipFile:
        raise TensorFileError("not an .npz file (a broken zip archive)") from None
    total = sum(i.file_size for i in infos)
    if total > max_bytes:  # from the zip directory, before decompressing anything
        raise TensorFileError(f"the arrays expand to {total} bytes, at most {max_bytes} allowed")
    names = [i.filename for i in infos]
    bad = [n for n in names if not n.endswith(".npy")]
    if bad:
        raise TensorFileError(f"the .npz holds {bad[0]!r}, which is not an array (.npy)")
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except ValueError as exc:  # allow_pickle=False refuses object arrays with a ValueError
        raise TensorFileError(f"unreadable .npz array (object arrays and pickles are refused): {exc}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise TensorFileError(f"unreadable .npz: {exc}") from None


def _read_safetensors(raw: bytes, max_bytes: int) -> dict[str, np.ndarray]:
    (header_len,) = struct.unpack("<Q", raw[:8])
    if header_len > min(MAX_HEADER_BYTES, len(raw) - 8):
        raise TensorFileError(f"safetensors header of {header_len} bytes is larger than the file allows")
    try:
        header = json.loads(raw[8:8 + header_len])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise TensorFileError("safetensors header is not valid JSON") from None
    if not isinstance(header, dict):
        raise TensorFileError("safetensors header is not a JSON object")
    header.pop("__metadata__", None)
    body = memoryview(raw)[8 + header_len:]
    arrays: dict[str, np.ndarray] = {}
    total = 0
    end_max = 0
    for name, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise TensorFileError(f"safetensors entry {name!r} is malformed")
        dtype = _SAFETENSORS_DTYPES.get(entry["dtype"])
        if dtype is None:
            raise TensorFileError(f"{name} is {entry['dtype']}; allowed dtypes are F32, F64, I32, I64")
        shape, offsets = entry["shape"], entry["data_offsets"]
        if (not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape)
                or not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and o >= 0 for o in offsets)):
            raise TensorFileError(f"safetensors entry {name!r} has a malformed shape or offsets")
        if len(shape) > MAX_ARRAY_DIMS:
            raise TensorFileError(f"{name} has {len(shape)} dimensions, at most {MAX_ARRAY_DIMS} allowed")
        nbytes = math.prod(shape) * np.dtype(dtype).itemsize  # Python ints: no overflow on lying shapes
        begin, end = offsets
        if end - begin != nbytes or end > len(body):
            raise TensorFileError(f"{name}: its offsets do not match its shape {tuple(shape)} and dtype")
        total += nbytes
        if total > max_bytes:
            raise TensorFileError(f"the arrays take more than {max_bytes} bytes")
        end_max = max(end_max, end)
        arrays[name] = np.frombuffer(body[begin:end], dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape).copy()
    if end_max != len(body):
        raise TensorFileError("safetensors file has bytes that no array accounts for")
    return {k: a.astype(a.dtype.newbyteorder("="), copy=False) for k, a in arrays.items()}

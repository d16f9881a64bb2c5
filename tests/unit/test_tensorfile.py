"""Dataset files (.npz and safetensors): the documented layout is accepted, everything else refused in one line."""

import io
import json
import struct
import zipfile

import numpy as np
import pytest
from safetensors.numpy import save as st_save

from verde.tensorfile import TensorFileError, inspect, sniff_format


def npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_npz_features_and_labels_are_described():
    x = np.zeros((10, 4), np.float32)
    y = np.arange(10, dtype=np.int64) % 3
    info, arrays = inspect(npz(x=x, y=y))
    assert info.format == "npz" and info.kind == "classification" and info.num_examples == 10
    assert [(a.name, a.shape, a.dtype) for a in info.arrays] == [("x", (10, 4), "float32"), ("y", (10,), "int64")]
    assert np.array_equal(arrays["y"], y)


def test_safetensors_images_with_held_out_split():
    raw = st_save({"x": np.ones((6, 1, 8, 8), np.float32), "y": np.zeros(6, np.int64),
                   "x_test": np.ones((2, 1, 8, 8), np.float32), "y_test": np.ones(2, np.int64)})
    info, arrays = inspect(raw)
    assert info.format == "safetensors" and info.kind == "classification"
    assert info.array("x_test").shape == (2, 1, 8, 8)
    assert arrays["x"].shape == (6, 1, 8, 8) and arrays["y_test"].tolist() == [1, 1]


def test_token_sequences_need_same_shape_integer_targets():
    tokens = np.arange(40, dtype=np.int64).reshape(5, 8)
    info, _ = inspect(npz(x=tokens, y=tokens + 1))
    assert info.kind == "tokens"
    with pytest.raises(TensorFileError, match="next-token targets"):
        inspect(npz(x=tokens, y=np.zeros(5, np.int64)))


@pytest.mark.parametrize(("arrays", "message"), [
    ({"x": np.zeros((3, 2), np.float32)}, "lacks y"),
    ({"x": np.zeros((3, 2), np.float32), "y": np.zeros(3, np.int64), "z": np.zeros(1)}, "unexpected array"),
    ({"x": np.zeros((3, 2), np.float32), "y": np.zeros(4, np.int64)}, "one target row per example"),
    ({"x": np.zeros((3, 2), np.float16), "y": np.zeros(3, np.int64)}, "allowed dtypes"),
    ({"x": np.array([[np.nan, 0.0]], np.float32), "y": np.zeros(1, np.int64)}, "not finite"),
    ({"x": np.array([[1e300, 0.0]]), "y": np.zeros(1, np.int64)}, "not finite"),
    ({"x": np.zeros((3, 2), np.float32), "y": np.array([0, -1, 2])}, "negative class labels"),
    ({"x": np.zeros((3, 2), np.float32), "y": np.zeros(3, np.int64), "x_test": np.zeros((1, 2), np.float32)},
     "both x_test and y_test"),
    ({"x": np.zeros((3, 2), np.float32), "y": np.zeros(3, np.int64), "x_test": np.zeros((1, 5), np.float32),
      "y_test": np.zeros(1, np.int64)}, "training data's layout"),
    ({"x": np.zeros(3, np.float32), "y": np.zeros(3, np.int64)}, "at least"),
])
def test_bad_layouts_are_refused_in_one_line(arrays, message):
    for raw in (npz(**arrays), st_save(arrays)):
        with pytest.raises(TensorFileError, match=message) as err:
            inspect(raw)
        assert "\n" not in str(err.value)


def test_pickled_object_array_is_refused_without_unpickling():
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        zf.writestr("x.npy", buf.getvalue())
        zf.writestr("y.npy", buf.getvalue())
    with pytest.raises(TensorFileError, match="pickles are refused"):
        inspect(zbuf.getvalue())


def test_zip_bomb_is_refused_before_decompressing():
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("x.npy", b"\0" * (2 * 2**20))
    with pytest.raises(TensorFileError, match="expand to"):
        inspect(zbuf.getvalue(), max_bytes=2**20)


def test_safetensors_that_lies_about_its_sizes_is_refused():
    header = json.dumps({"x": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 4000000]}}).encode()
    raw = struct.pack("<Q", len(header)) + header + b"\0" * 16
    with pytest.raises(TensorFileError, match="offsets do not match"):
        inspect(raw)
    huge = struct.pack("<Q", 2**40) + b"{}"
    with pytest.raises(TensorFileError, match="header"):
        inspect(huge)


def test_unknown_bytes_are_not_a_dataset():
    with pytest.raises(TensorFileError, match="expected an .npz"):
        sniff_format(b"hello world, not a tensor file")

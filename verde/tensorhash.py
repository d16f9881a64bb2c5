"""Canonical hashes of tensors and of a training state — PROTOCOL.md §1, byte for byte.

``H(t) = sha256(b"agora.tensor.v1" ‖ dtype_code:u8 ‖ ndim:u8 ‖ shape as u32 LE ‖ data)`` where data is the
tensor's row-major bytes in little-endian order. A training state hashes in two parts (PROTOCOL §1, §7):
``H(state) = keccak256(modelHash ‖ slotsHash)``, ``modelHash = keccak256(H(p_1) ‖ … ‖ H(p_k))`` over the
parameters and ``slotsHash = keccak256(H(s_1) ‖ …)`` over the optimizer slots, each in program order — so the
final leaf ``L[S]`` binds the result's ``finalModelHash``. sha256 runs at memory speed (OpenSSL); a contiguous
CPU tensor is hashed straight from its memory, without a copy.
"""

from __future__ import annotations

import hashlib
import struct
import sys
from collections.abc import Iterable, Mapping

import torch

from verde.merkle import keccak256

DOMAIN = b"agora.tensor.v1"

DTYPE_CODES: dict[torch.dtype, int] = {
    torch.float32: 1,
    torch.float64: 2,
    torch.int64: 3,
    torch.int32: 4,
    torch.uint8: 5,
    torch.bool: 6,
}

_LITTLE = sys.byteorder == "little"


def _header(t: torch.Tensor) -> bytes:
    code = DTYPE_CODES.get(t.dtype)
    if code is None:
        raise TypeError(f"no canonical hash for dtype {t.dtype}; known: {', '.join(map(str, DTYPE_CODES))}")
    if t.dim() > 255:
        raise ValueError(f"a hashed tensor has at most 255 dimensions, got {t.dim()}")
    for n in t.shape:
        if n >= 2**32:
            raise ValueError(f"dimension {n} does not fit in u32")
    return DOMAIN + struct.pack(f"<BB{t.dim()}I", code, t.dim(), *t.shape)


def _data(t: torch.Tensor) -> memoryview:
    if t.device.type != "cpu":
        t = t.cpu()
    if t.is_floating_point() and bool(torch.isnan(t).any()):
        # NaN payload and sign bits differ between CPU and CUDA kernels: hash one canonical quiet NaN
        t = torch.where(torch.isnan(t), torch.tensor(float("nan"), dtype=t.dtype), t)
    if t.is_conj() or t.is_neg():
        t = t.resolve_conj().resolve_neg()
    t = t.contiguous()  # a no-op (no copy) when it already is
    arr = t.numpy()
    if not _LITTLE and arr.dtype.itemsize > 1:
        arr = arr.byteswap()
    return memoryview(arr).cast("B")  # type: ignore[arg-type]  # ndarray is a buffer


def tensor_hash(t: torch.Tensor) -> bytes:
    """``H(t)``: 32 bytes."""
    h = hashlib.sha256(_header(t))
    if t.numel():
        h.update(_data(t.detach()))
    return h.digest()


def combine(hashes: Iterable[bytes]) -> bytes:
    """keccak256 over the concatenation of 32-byte hashes (the state hash's outer rule)."""
    return keccak256(b"".join(hashes))


def is_slot(name: str) -> bool:
    """Optimizer slots are named ``<kind>.<param>`` (``m.w0``, ``v.b1``, ``buf.w0``); parameters have no dot."""
    return "." in name


def state_hash_of(names: Iterable[str], hashes: Iterable[bytes]) -> bytes:
    """``H(state)`` from its tensors' names and hashes in program order: ``keccak256(modelHash ‖ slotsHash)``."""
    params: list[bytes] = []
    slots: list[bytes] = []
    for name, h in zip(names, hashes, strict=True):
        (slots if is_slot(name) else params).append(h)
    return keccak256(combine(params) + combine(slots))


def params_hash(state: Mapping[str, torch.Tensor]) -> bytes:
    """``modelHash``: keccak256 of the parameters' tensor hashes in program order (slots left out)."""
    return combine(tensor_hash(t) for name, t in state.items() if not is_slot(name))


def slots_hash(state: Mapping[str, torch.Tensor]) -> bytes:
    """``slotsHash``: keccak256 of the optimizer slots' tensor hashes in program order (keccak256("") if none)."""
    return combine(tensor_hash(t) for name, t in state.items() if is_slot(name))


def state_hash(state: Mapping[str, torch.Tensor]) -> bytes:
    """``H(state)`` = ``keccak256(modelHash ‖ slotsHash)`` of a state mapping in program order."""
    return state_hash_of(state.keys(), (tensor_hash(t) for t in state.values()))

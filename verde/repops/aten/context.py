"""What a kernel needs beyond its ATen arguments: the device factories allocate on, and dropout's random stream.

An exported graph records `device=cpu` on every factory node (full, arange, scalar_tensor, ...) and `_to_copy`;
the same graph must run unchanged on CUDA, so kernels ignore the recorded device and use `device()` instead,
which the interpreter sets with `on_device(...)`. Dropout has no seed among its ATen arguments: the caller
either passes `seed=`/`stream=` keywords (literals in the graph node) or sets them with `random_stream(...)`
(e.g. the job seed and a per-step, per-node stream name).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import torch

_DEVICE: contextvars.ContextVar[torch.device | None] = contextvars.ContextVar("repops_aten_device",
                                                                            default=None)
_STREAM: contextvars.ContextVar[tuple[int, int | str] | None] = contextvars.ContextVar("repops_aten_stream",
                                                                                     default=None)


def device() -> torch.device:
    """The device factory kernels allocate on (cpu unless inside `on_device`)."""
    return _DEVICE.get() or torch.device("cpu")


@contextlib.contextmanager
def on_device(dev: str | torch.device) -> Iterator[None]:
    token = _DEVICE.set(torch.device(dev))
    try:
        yield
    finally:
        _DEVICE.reset(token)


def stream() -> tuple[int, int | str] | None:
    """(seed, stream) for random kernels, or None when unset."""
    return _STREAM.get()


@contextlib.contextmanager
def random_stream(seed: int, stream_id: int | str) -> Iterator[None]:
    """Random kernels called inside draw from verde.rng's stream (seed, stream_id)."""
    token = _STREAM.set((int(seed), stream_id))
    try:
        yield
    finally:
        _STREAM.reset(token)

"""Runs of optimizer ops computed as one: the same elementwise update over every parameter, in one set of kernels.

A program's optimizer ops come in runs of one kind (all ``adam_m``, then all ``adam_v``, then all
``adam_param``: verde.program.append_optimizer), each op reading only tensors made before its run. Their
kernels are elementwise chains of correctly rounded float32 ops (verde/repops/optim.py), so an element's result
does not depend on which tensor it sits in: updating every parameter's slice of one flat buffer gives the same
bits as updating each parameter alone, in ~15 kernel calls per run instead of ~15 per parameter (each call
costs ~2 us of fixed overhead; a GPT step has 90 such ops). The run's outputs are consecutive views of the
flat result, so the next step finds them already side by side and reads them without a copy.

Nothing else changes: each op still has its own output tensor (hashed, checkpointed, disputed and recomputed
alone by the referee exactly as before), a fault that nudges one op's output is seen by every later op, and a
run whose tensors do not fit (shapes differ within an op, dtypes or devices differ) is computed op by op.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from verde.program import Op

# Elementwise optimizer kernels (every input has the output's shape); adam_param also takes the step.
BATCHED = frozenset({"adam_m", "adam_v", "adam_param", "sgd_momentum_buf", "sgd_param"})
_STEPPED = frozenset({"adam_param"})


def runs(ops: Sequence[Op]) -> list[tuple[int, int]]:
    """[start, stop) positions in ``ops`` of each run of >= 2 consecutive batchable ops of one kind and attrs,
    none reading an output of an op before it in the run."""
    found: list[tuple[int, int]] = []
    i = 0
    while i < len(ops):
        op = ops[i]
        j = i + 1
        if op.kind in BATCHED and not op.transpose:
            outputs = {op.output}
            while (j < len(ops) and ops[j].kind == op.kind and ops[j].attrs == op.attrs and not ops[j].transpose
                   and not outputs.intersection(ops[j].inputs)):
                outputs.add(ops[j].output)
                j += 1
            if j - i >= 2:
                found.append((i, j))
        i = j
    return found


def _flat(tensors: list[Tensor]) -> Tensor:
    """The tensors end to end as one 1-D tensor: a view when they already lie so in one storage, else a copy."""
    first = tensors[0]
    if all(t.is_contiguous() for t in tensors):
        ptr, offset = first.untyped_storage().data_ptr(), first.storage_offset()
        for t in tensors:
            if t.untyped_storage().data_ptr() != ptr or t.storage_offset() != offset:
                break
            offset += t.numel()
        else:
            return first.as_strided((offset - first.storage_offset(),), (1,))
    return torch.cat([t.reshape(-1) for t in tensors])


class Run:
    """One run's ops: ``call(k)`` is op k's ``call(env, step)``; the run is computed when its first op is called."""

    def __init__(self, ops: Sequence[Op], fn: Callable[..., Tensor],
                 single: Callable[[Op], Callable[[dict, int], object]]) -> None:
        self.ops = list(ops)
        self.fn = fn
        self.attrs = self.ops[0].attrs
        self.stepped = self.ops[0].kind in _STEPPED
        self._single = [single(op) for op in self.ops]  # the op-by-op fallback
        self._out: list[object] = []

    def _compute(self, env: dict, step: int) -> None:
        args = [[env[name] for name in op.inputs] for op in self.ops]
        shapes = [a[0].shape for a in args]
        ref = args[0][0]
        if any(t.shape != shapes[k] or t.dtype != ref.dtype or t.device != ref.device
               for k, a in enumerate(args) for t in a):
            self._out = [call(env, step) for call in self._single]
            return
        flats = [_flat([a[pos] for a in args]) for pos in range(len(args[0]))]
        kwargs = {"step": step, **self.attrs} if self.stepped else self.attrs
        out = self.fn(*flats, **kwargs)
        sizes = [a[0].numel() for a in args]
        self._out = [piece.view(shape) for piece, shape in zip(out.split(sizes), shapes)]

    def call(self, k: int) -> Callable[[dict, int], object]:
        if k == 0:
            def first(env: dict, step: int) -> object:
                self._compute(env, step)
                return self._take(0)
            return first
        return lambda env, step: self._take(k)

    def _take(self, k: int) -> object:
        out = self._out[k]
        self._out[k] = None  # the run holds no tensor once its ops have handed them out
        return out

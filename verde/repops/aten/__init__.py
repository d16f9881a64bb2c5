"""RepOps kernels for core ATen overloads — the op table a graph program runs on.

`KERNELS["aten.mm.default"](a, b)` takes the overload's own positional and keyword arguments (tensors and
Python literals as they appear in a torch.export'ed core-ATen joint forward/backward graph) and returns
what the ATen op returns (a tensor, or a tuple/list of tensors; None for outputs an output_mask turns off),
bit-identically on any thread count, CPU ISA and (by construction) CUDA, under the rules of verde.repops.
The graph allowlist is `KERNELS`' keys.

Beyond the ATen arguments: factory ops allocate on `context.device()` (set with `on_device`) and dropout
draws from `random_stream(seed, stream)` or explicit `seed=`/`stream=` keywords (see context.py).
Modules hold one kind of op each: matmul (mm/addmm/bmm/convolution), norms, indexing, reductions,
pointwise, views, creation, pooling, losses, random.
"""

from verde.repops.aten import (  # noqa: F401  (importing a module registers its kernels)
    creation,
    indexing,
    losses,
    matmul,
    norms,
    pointwise,
    pooling,
    random,
    reductions,
    views,
)
from verde.repops.aten.context import device, on_device, random_stream
from verde.repops.aten.registry import KERNELS

__all__ = ["KERNELS", "device", "on_device", "random_stream"]

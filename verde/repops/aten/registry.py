"""The one table of RepOps ATen kernels, keyed by the overload's printed name ("aten.mm.default").

The graph allowlist is this table's keys: an op is allowed exactly when a reproducible kernel for it exists.
"""

from __future__ import annotations

from collections.abc import Callable

KERNELS: dict[str, Callable] = {}


def kernel(*names: str) -> Callable[[Callable], Callable]:
    """Register the decorated function as the kernel of each named overload (a name may be registered once)."""
    def register(fn: Callable) -> Callable:
        for name in names:
            if name in KERNELS:
                raise ValueError(f"kernel for {name} registered twice")
            KERNELS[name] = fn
        return fn
    return register

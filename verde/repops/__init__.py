"""RepOps: the reproducible operator library every Agora job runs on — same bits on any thread count, CPU or GPU.

How reproducibility is obtained (DESIGN §6), and why this way:

* **Reductions by exact arithmetic, not a fixed tree.** A fixed reduction tree built from elementwise
  kernels is simple but runs at elementwise speed (no GEMM). Instead every reduction rounds its inputs
  to a shared exponent so that all partial sums are integers (times one power of two) below 2**53:
  float64 addition is then exact, hence associative, and any order the BLAS, the thread pool or the
  GPU picks yields the same bits. matmul rounds each row of A / column of B to `bits` significant bits
  relative to its maximum (2 bits + ceil(log2 K) <= 52, i.e. 21 bits for K <= 1024) and runs ONE
  ordinary float64 GEMM (see matmul.py): ~2-3x float32's error on random matrices and ~2000x smaller
  than a bfloat16 matmul's, at ~2x the cost of the float32 GEMM. Ozaki-style 12-bit splitting would
  reach float32 accuracy but needs 3-4 GEMMs; int8 (AMX/tensor-core) GEMMs are exact too and faster,
  but the slicing glue costs as much as they save at these sizes. sum/mean keep 52 - ceil(log2 n)
  bits (reduce.py). The only other rounding is the final cast to float32.
* Results are exact functions of the inputs, so they are also independent of how a caller chunks the
  rows of a matmul (exponents are per row of A and per column of B).
* Assumes IEEE semantics with subnormals (no flush-to-zero: do not call torch.set_flush_denormal(True)).
* **Elementwise ops** are IEEE correctly rounded (+ − × ÷ sqrt), wrapped so programs use nothing else;
  Python scalars are rounded to float32 first; no `alpha=`, addcmul, lerp or other FMA-prone forms;
  division by a constant divides by a device tensor (CUDA turns x / python_scalar into x * (1/scalar)).
* **Transcendentals** (exp, log, tanh, GELU) are fixed float64 polynomial programs with exact range
  reduction, rounded once (transcendental.py) — never the platform's libm.
* No device RNG (see verde/rng.py), no vendor fused kernels, no torch.compile. The one exception to "one
  kernel per IEEE op" is ours: on the CPU the hottest programs (exp, erf, GELU and its backward, operand
  rounding, exact sums, layer norm, softmax) also exist as single C loops (compiled.py, csrc/compiled.c) that
  perform the same IEEE operations in the same order — built with -ffp-contract=off and without fast-math,
  calling no libm — so they return the same bits (tests compare them bit for bit with the Python programs,
  which CUDA runs, at every ISA level the build vectorizes for).

Every function is pure (inputs are never modified) and returns exactly one float32 tensor.

Exported PyTorch graphs run on `verde.repops.aten.KERNELS`: one kernel per allowed core-ATen overload, keyed
by its printed name ("aten.mm.default"), built from these same rules (see verde/repops/aten/__init__.py).
"""

from verde.repops.elementwise import (
    add,
    bias_add,
    div,
    div_scalar,
    f32,
    maximum,
    mul,
    neg,
    relu,
    relu_backward,
    scale,
    sqrt,
    sub,
)
from verde.repops.losses import cross_entropy, cross_entropy_backward, mse, mse_backward, softmax
from verde.repops.matmul import matmul
from verde.repops.optim import adam_m, adam_param, adam_v, ipow, sgd_momentum_buf, sgd_param
from verde.repops.reduce import mean, sum
from verde.repops.transcendental import (
    exp,
    gelu,
    gelu_backward,
    log,
    tanh,
    tanh_backward,
)

__all__ = [
    "adam_m",
    "adam_param",
    "adam_v",
    "add",
    "bias_add",
    "cross_entropy",
    "cross_entropy_backward",
    "div",
    "div_scalar",
    "exp",
    "f32",
    "gelu",
    "gelu_backward",
    "ipow",
    "log",
    "matmul",
    "maximum",
    "mean",
    "mse",
    "mse_backward",
    "mul",
    "neg",
    "relu",
    "relu_backward",
    "scale",
    "sgd_momentum_buf",
    "sgd_param",
    "softmax",
    "sqrt",
    "sub",
    "sum",
    "tanh",
    "tanh_backward",
]

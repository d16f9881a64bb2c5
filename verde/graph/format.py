"""Agora's graph format: a joint forward+loss+backward training graph as versioned JSON, and its safetensors weights.

The file is data, never code: nodes name an ATen overload from the allowlist (the keys of
``verde.repops.aten.KERNELS``) plus the structural ``getitem``, and their arguments are references to
earlier tensors or JSON literals. Providers, verifiers, the referee and the coordinator only ever
``parse_graph`` / ``parse_weights`` it — never ``torch.export.load``, pickle or ``.module()``.

Layout (``"format": "agora.graph", "version": 1``)::

    {"format": "agora.graph", "version": 1,
     "parameters": [{"name": "conv1.weight", "shape": [8, 1, 3, 3], "dtype": "float32"}, ...],
     "inputs": [{"name": "x", "shape": [32, 1, 8, 8], "dtype": "float32"},
                {"name": "y", "shape": [32], "dtype": "int64"}],
     "nodes": [{"name": "convolution", "op": "aten.convolution.default",
                "args": [{"ref": "x"}, {"ref": "conv1.weight"}, ...], "kwargs": {},
                "out": {"shape": [32, 8, 8, 8], "dtype": "float32"}}, ...],
     "outputs": {"loss": "div", "logits": "addmm", "gradients": {"conv1.weight": "getitem_4", ...}}}

* ``parameters`` use the module's own ``state_dict`` names; a node refers to a parameter, to the batch
  inputs ``x``/``y`` or to an earlier node by ``{"ref": name}``.
* A literal is a JSON number, bool, null or list, or one of ``{"dtype": "float32"}``,
  ``{"device": "run"}`` (the device the program runs on), ``{"layout": "strided"}``,
  ``{"memory_format": "contiguous_format"}``, ``{"float": "inf" | "-inf" | "nan"}``.
* A node's output is ``"out": {"shape", "dtype"}`` for one tensor or ``"outs": [... | null]`` for a tuple
  (``null`` where the op returns no tensor); ``getitem`` picks one element of a tuple.
* ``outputs.loss`` is the scalar float32 loss; ``outputs.gradients`` has one node per parameter, of that
  parameter's shape; ``outputs.logits`` (optional) is what held-out accuracy reads.

``parse_graph`` checks everything before anything runs: size and structure, names, that every op is
allowed, that arguments are literals or earlier tensors, and — by running each op on shape-only ``meta``
tensors — that its arguments are valid and the declared output shapes are the true ones (a shape lie is
refused), within bounds on nodes, parameters and activation memory. Every error is one line naming the node.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import torch

FORMAT = "agora.graph"
VERSION = 1

MAX_GRAPH_BYTES = 16 * 2**20
MAX_NODES = 20_000
MAX_PARAMETERS = 5_000_000  # the same bound as an MLP spec's
MAX_ACTIVATION_BYTES = 2 * 2**30  # every node output of one step, kept together (an upper bound)
MAX_DIMS = 8
MAX_DIM_SIZE = 2**31 - 1
MAX_LITERAL_INT = 2**62
MAX_LIST_LEN = 64
MAX_WEIGHTS_BYTES = MAX_PARAMETERS * 4 + 2**20

GETITEM = "getitem"
BATCH_INPUTS = ("x", "y")

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "int64": torch.int64, "bool": torch.bool}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
_LAYOUTS = {"strided": torch.strided}
_MEMORY_FORMATS = {"contiguous_format": torch.contiguous_format, "preserve_format": torch.preserve_format}
_SPECIAL_FLOATS = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_PARAM_NAME = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+){0,15}$")


class GraphError(ValueError):
    """A graph or weights file that is refused; ``str()`` is one line (naming the node where there is one)."""


@dataclass(frozen=True)
class TensorSpec:
    shape: tuple[int, ...]
    dtype: torch.dtype

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * self.dtype.itemsize

    def to_json(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "dtype": DTYPE_NAMES[self.dtype]}


@dataclass(frozen=True)
class Ref:
    """A reference to a parameter, a batch input or an earlier node's output."""

    name: str


@dataclass(frozen=True)
class RunDevice:
    """The ``{"device": "run"}`` literal: replaced by the program's device when it runs."""


@dataclass(frozen=True)
class Node:
    index: int  # 1-based position among the graph's nodes
    name: str
    op: str
    args: tuple[Any, ...]  # decoded: Ref, literals, RunDevice, torch.dtype, lists
    kwargs: dict[str, Any]
    out: TensorSpec | tuple[TensorSpec | None, ...]  # a tuple for ops that return several tensors

    @property
    def refs(self) -> tuple[str, ...]:
        """Names of every tensor this node reads, in argument order (nested lists included)."""
        found: list[str] = []
        _collect_refs(self.args, found)
        _collect_refs(tuple(self.kwargs.values()), found)
        return tuple(found)


@dataclass(frozen=True)
class Graph:
    parameters: dict[str, TensorSpec]  # state_dict name -> shape/dtype, in file order
    inputs: dict[str, TensorSpec]  # "x", "y"
    nodes: tuple[Node, ...]
    loss: str
    gradients: dict[str, str]  # parameter -> node
    logits: str | None
    raw: bytes  # the exact bytes parsed (hash them to name the graph)

    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    @property
    def parameter_count(self) -> int:
        return sum(p.numel for p in self.parameters.values())

    @property
    def activation_bytes(self) -> int:
        """Bytes of every node output of one step together: an upper bound on a step's working memory."""
        return sum(_out_bytes(n.out) for n in self.nodes)

    @property
    def batch_size(self) -> int:
        return self.inputs["x"].shape[0]

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)


def _out_bytes(out: TensorSpec | tuple[TensorSpec | None, ...]) -> int:
    if isinstance(out, TensorSpec):
        return out.nbytes
    return sum(o.nbytes for o in out if o is not None)


def _collect_refs(values: Any, found: list[str]) -> None:
    for v in values:
        if isinstance(v, Ref):
            found.append(v.name)
        elif isinstance(v, (list, tuple)):
            _collect_refs(v, found)


def allowed_ops() -> frozenset[str]:
    """The allowlist: every ATen overload with a RepOps kernel, plus the structural ``getitem``."""
    from verde.repops.aten import KERNELS

    return frozenset(KERNELS) | {GETITEM}


# -- encoding (the export side) ---------------------------------------------------------------------------------

def encode_literal(value: Any) -> Any:
    """A Python/torch literal as JSON (the inverse of the decoding in ``parse_graph``)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {"float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, torch.dtype):
        if value not in DTYPE_NAMES:
            raise GraphError(f"dtype {value} is not allowed (allowed: {', '.join(DTYPES)})")
        return {"dtype": DTYPE_NAMES[value]}
    if isinstance(value, torch.device):
        return {"device": "run"}
    if isinstance(value, torch.layout):
        return {"layout": str(value).removeprefix("torch.")}
    if isinstance(value, torch.memory_format):
        return {"memory_format": str(value).removeprefix("torch.")}
    if isinstance(value, (list, tuple)):
        return [encode_literal(v) for v in value]
    raise GraphError(f"cannot encode literal {value!r} ({type(value).__name__})")


def dump_graph(doc: dict[str, Any]) -> bytes:
    """Canonical bytes of a graph document (sorted keys, no whitespace): the same graph always hashes the same."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False).encode("utf-8")


# -- parsing (every other side) ---------------------------------------------------------------------------------

def _tensor_spec(raw: Any, where: str) -> TensorSpec:
    if not isinstance(raw, dict) or set(raw) != {"shape", "dtype"}:
        raise GraphError(f"{where}: a tensor is {{\"shape\", \"dtype\"}}")
    shape, dtype = raw["shape"], raw["dtype"]
    if not isinstance(shape, list) or len(shape) > MAX_DIMS or not all(
            type(d) is int and 0 <= d <= MAX_DIM_SIZE for d in shape):
        raise GraphError(f"{where}: shape must be a list of at most {MAX_DIMS} sizes in 0..{MAX_DIM_SIZE}")
    if dtype not in DTYPES:
        raise GraphError(f"{where}: dtype {dtype!r} not allowed (allowed: {', '.join(DTYPES)})")
    return TensorSpec(tuple(shape), DTYPES[dtype])


def _decode(value: Any, known: dict[str, Any], where: str, depth: int = 0) -> Any:
    if depth > 2:
        raise GraphError(f"{where}: arguments nest at most two lists deep")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_LITERAL_INT:
            raise GraphError(f"{where}: integer literal {value} out of range")
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, list):
        if len(value) > MAX_LIST_LEN:
            raise GraphError(f"{where}: a list argument has at most {MAX_LIST_LEN} items")
        return [_decode(v, known, where, depth + 1) for v in value]
    if isinstance(value, dict) and len(value) == 1:
        (key, v), = value.items()
        if key == "ref":
            if not isinstance(v, str) or v not in known:
                raise GraphError(f"{where}: refers to {v!r}, which is no parameter, input or earlier node")
            return Ref(v)
        if key == "dtype" and v in DTYPES:
            return DTYPES[v]
        if key == "device" and v == "run":
            return RunDevice()
        if key == "layout" and v in _LAYOUTS:
            return _LAYOUTS[v]
        if key == "memory_format" and v in _MEMORY_FORMATS:
            return _MEMORY_FORMATS[v]
        if key == "float" and v in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[v]
    raise GraphError(f"{where}: argument {json.dumps(value)[:60]} is not a literal or a tensor reference")


def _overload(op: str) -> Any:
    """``torch.ops.aten.<name>.<overload>`` for an allowlisted name (never an arbitrary attribute path)."""
    ns, name, overload = op.split(".")
    return getattr(getattr(getattr(torch.ops, ns), name), overload)


def _meta(value: Any, env: dict[str, Any]) -> Any:
    if isinstance(value, Ref):
        return env[value.name]
    if isinstance(value, RunDevice):
        return torch.device("meta")
    if isinstance(value, list):
        return [_meta(v, env) for v in value]
    return value


def _infer(node_name: str, op: str, args: tuple[Any, ...], kwargs: dict[str, Any], env: dict[str, Any]) -> Any:
    """The op run on shape-only meta tensors: validates the arguments and gives the true output shapes."""
    margs = [_meta(a, env) for a in args]
    mkwargs = {k: _meta(v, env) for k, v in kwargs.items()}
    if op == GETITEM:
        if len(margs) != 2 or not isinstance(margs[0], tuple) or type(margs[1]) is not int:
            raise GraphError(f"node {node_name} (getitem): needs a multi-output node and an index")
        seq, i = margs
        if not 0 <= i < len(seq) or seq[i] is None:
            raise GraphError(f"node {node_name} (getitem): index {i} picks no tensor")
        return seq[i]
    try:
        with torch.no_grad():
            out = _overload(op)(*margs, **mkwargs)
    except Exception as exc:  # noqa: BLE001  (whatever the op's own argument checks raise is a refusal)
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GraphError(f"node {node_name} ({op}): bad arguments: {msg[:200]}") from None
    return tuple(out) if isinstance(out, (tuple, list)) else out


def _spec_of(value: Any) -> TensorSpec | None:
    if value is None:
        return None
    if not isinstance(value, torch.Tensor):
        raise GraphError(f"output of type {type(value).__name__} is not a tensor")
    if value.dtype not in DTYPE_NAMES:
        raise GraphError(f"output dtype {value.dtype} not allowed")
    return TensorSpec(tuple(value.shape), value.dtype)


def _meta_tensor(spec: TensorSpec) -> torch.Tensor:
    return torch.empty(spec.shape, dtype=spec.dtype, device="meta")


def parse_graph(raw: bytes) -> Graph:
    """Validate a graph file's bytes; raise ``GraphError`` (one line) for anything outside the format or bounds."""
    if len(raw) > MAX_GRAPH_BYTES:
        raise GraphError(f"graph file is {len(raw)} bytes, at most {MAX_GRAPH_BYTES} allowed")
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError):
        raise GraphError("not a graph file: not UTF-8 JSON (pickles, .pt2 and other binaries are refused)") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise GraphError(f"not a graph file: needs \"format\": \"{FORMAT}\"")
    if doc.get("version") != VERSION:
        raise GraphError(f"graph format version {doc.get('version')!r} unknown (this is version {VERSION})")
    expected = {"format", "version", "parameters", "inputs", "nodes", "outputs"}
    if set(doc) != expected:
        raise GraphError(f"graph keys must be {', '.join(sorted(expected))}; got {', '.join(sorted(doc))}")

    parameters: dict[str, TensorSpec] = {}
    if not isinstance(doc["parameters"], list):
        raise GraphError("parameters must be a list")
    for i, p in enumerate(doc["parameters"]):
        name = p.get("name") if isinstance(p, dict) else None
        if not isinstance(name, str) or not _PARAM_NAME.match(name) or name in parameters:
            raise GraphError(f"parameter {i}: name {name!r} is not a fresh state_dict name (a.b.c, word characters)")
        spec = _tensor_spec({k: v for k, v in p.items() if k != "name"}, f"parameter {name}")
        if spec.dtype != torch.float32:
            raise GraphError(f"parameter {name}: must be float32")
        parameters[name] = spec
    count = sum(p.numel for p in parameters.values())
    if count > MAX_PARAMETERS:
        raise GraphError(f"{count} parameters, at most {MAX_PARAMETERS} allowed")
    if not parameters:
        raise GraphError("a graph needs at least one parameter")

    inputs: dict[str, TensorSpec] = {}
    if not isinstance(doc["inputs"], list) or [i.get("name") if isinstance(i, dict) else None
                                               for i in doc["inputs"]] != list(BATCH_INPUTS):
        raise GraphError("inputs must be exactly x then y (the batch)")
    for i in doc["inputs"]:
        inputs[i["name"]] = _tensor_spec({k: v for k, v in i.items() if k != "name"}, f"input {i['name']}")
    if inputs["x"].shape[:1] != inputs["y"].shape[:1] or not inputs["x"].shape or inputs["x"].shape[0] < 1:
        raise GraphError("inputs x and y must share their first (batch) dimension")

    allowed = allowed_ops()
    known: dict[str, Any] = {n: _meta_tensor(s) for n, s in {**parameters, **inputs}.items()}
    if not isinstance(doc["nodes"], list):
        raise GraphError("nodes must be a list")
    if len(doc["nodes"]) > MAX_NODES:
        raise GraphError(f"{len(doc['nodes'])} nodes, at most {MAX_NODES} allowed")
    nodes: list[Node] = []
    activation = 0
    for j, raw_node in enumerate(doc["nodes"], start=1):
        if not isinstance(raw_node, dict):
            raise GraphError(f"node {j}: not an object")
        name = raw_node.get("name")
        label = f"node {j} {name}" if isinstance(name, str) else f"node {j}"
        if not isinstance(name, str) or not _NAME.match(name):
            raise GraphError(f"{label}: name must be an identifier")
        if name in known:
            raise GraphError(f"{label}: name {name} is already taken")
        op = raw_node.get("op")
        if not isinstance(op, str) or op not in allowed:
            raise GraphError(f"{label}: op {str(op)[:80]!r} is not allowed")
        keys = set(raw_node) - {"name", "op", "args", "kwargs"}
        if keys not in ({"out"}, {"outs"}):
            raise GraphError(f"{label} ({op}): needs name, op, args, kwargs and out or outs")
        if not isinstance(raw_node.get("args"), list) or not isinstance(raw_node.get("kwargs"), dict):
            raise GraphError(f"{label} ({op}): args must be a list and kwargs an object")
        args = tuple(_decode(a, known, f"{label} ({op})") for a in raw_node["args"])
        kwargs = {str(k): _decode(v, known, f"{label} ({op}) kwarg {k}") for k, v in raw_node["kwargs"].items()}
        for i, a in enumerate(_refs_of(args, kwargs)):
            if isinstance(known[a], tuple) != (op == GETITEM and i == 0):
                raise GraphError(f"{label} ({op}): {a} " + ("returns several tensors; pick one with getitem"
                                                            if isinstance(known[a], tuple) else "is not multi-output"))
        declared: TensorSpec | tuple[TensorSpec | None, ...]
        if "out" in raw_node:
            declared = _tensor_spec(raw_node["out"], f"{label} ({op}) out")
        else:
            outs = raw_node["outs"]
            if not isinstance(outs, list) or not 1 <= len(outs) <= MAX_LIST_LEN:
                raise GraphError(f"{label} ({op}): outs must be a non-empty list")
            declared = tuple(None if o is None else _tensor_spec(o, f"{label} ({op}) outs") for o in outs)
        value = _infer(label, op, args, kwargs, known)
        try:
            true = tuple(_spec_of(v) for v in value) if isinstance(value, tuple) else _spec_of(value)
        except GraphError as exc:
            raise GraphError(f"{label} ({op}): {exc}") from None
        if true != declared:
            raise GraphError(f"{label} ({op}): declares output {_show(declared)} but the op gives {_show(true)}")
        activation += _out_bytes(declared)
        if activation > MAX_ACTIVATION_BYTES:
            raise GraphError(f"{label} ({op}): activations exceed {MAX_ACTIVATION_BYTES} bytes")
        known[name] = value
        nodes.append(Node(j, name, op, args, kwargs, declared))

    outputs = doc["outputs"]
    if not isinstance(outputs, dict) or not {"loss", "gradients"} <= set(outputs) <= {"loss", "gradients", "logits"}:
        raise GraphError("outputs must have loss and gradients (and optionally logits)")
    node_out = {n.name: n.out for n in nodes}
    loss = outputs["loss"]
    if node_out.get(loss) != TensorSpec((), torch.float32):
        raise GraphError(f"outputs.loss: {loss!r} must name a node with a scalar float32 output")
    logits = outputs.get("logits")
    if logits is not None and not isinstance(node_out.get(logits), TensorSpec):
        raise GraphError(f"outputs.logits: {logits!r} must name a single-tensor node")
    grads = outputs["gradients"]
    if not isinstance(grads, dict) or set(grads) != set(parameters):
        raise GraphError("outputs.gradients must name one node for every parameter")
    for pname, gname in grads.items():
        if node_out.get(gname) != parameters[pname]:
            raise GraphError(f"outputs.gradients.{pname}: {gname!r} must name a node shaped like the parameter")
    return Graph(parameters, inputs, tuple(nodes), loss, {p: grads[p] for p in parameters}, logits, raw)


def _refs_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str]:
    found: list[str] = []
    _collect_refs(args, found)
    _collect_refs(tuple(kwargs.values()), found)
    return found


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _show(spec: TensorSpec | tuple[TensorSpec | None, ...] | None) -> str:
    if spec is None:
        return "none"
    if isinstance(spec, TensorSpec):
        return f"{DTYPE_NAMES[spec.dtype]}{list(spec.shape)}"
    return "(" + ", ".join(_show(s) for s in spec) + ")"


# -- weights ----------------------------------------------------------------------------------------------------

def parse_weights(raw: bytes, graph: Graph) -> dict[str, torch.Tensor]:
    """The initial parameters from safetensors bytes, checked against the graph (names, shapes, dtype, finite)."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    if len(raw) > MAX_WEIGHTS_BYTES:
        raise GraphError(f"weights file is {len(raw)} bytes, at most {MAX_WEIGHTS_BYTES} allowed")
    if len(raw) < 8 or int.from_bytes(raw[:8], "little") > len(raw) - 8:
        raise GraphError("weights: not a safetensors file (pickles and torch.save files are refused)")
    try:
        tensors = load(raw)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise GraphError(f"weights: not a valid safetensors file: {str(exc).splitlines()[0][:120]}") from None
    missing = [n for n in graph.parameters if n not in tensors]
    extra = [n for n in tensors if n not in graph.parameters]
    if missing or extra:
        raise GraphError("weights do not fit the graph: "
                         + "; ".join(filter(None, [missing and f"missing {', '.join(missing[:5])}",
                                                   extra and f"unexpected {', '.join(extra[:5])}"])))
    out: dict[str, torch.Tensor] = {}
    for name, spec in graph.parameters.items():
        t = tensors[name]
        if t.dtype != spec.dtype or tuple(t.shape) != spec.shape:
            raise GraphError(f"weights: {name} is {t.dtype} {list(t.shape)}, the graph needs {_show(spec)}")
        if not bool(torch.isfinite(t).all()):
            raise GraphError(f"weights: {name} has values that are not finite")
        out[name] = t.contiguous()
    return out


def dump_weights(tensors: dict[str, torch.Tensor]) -> bytes:
    """safetensors bytes of float32 tensors under their state_dict names."""
    from safetensors.torch import save

    return save({k: v.detach().to(torch.float32).contiguous().cpu() for k, v in tensors.items()})

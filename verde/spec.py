"""The job spec (DESIGN §7): a versioned, bounded description of a training job, with its canonical hash.

A spec is data only — jobs never carry code. Everything a worker does follows from it: the model, the
dataset and batch order, the loss, the optimizer, the initial weights (``seed``) and the checkpoint
interval. ``spec_hash`` is the keccak256 of its canonical JSON; the chain stores it as ``specHash``.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)

from verde.merkle import keccak256

# Bounds that keep one job from exhausting a worker. The coordinator rejects a spec outside them with 422.
MAX_STEPS = 100_000
MAX_PARAMETERS = 5_000_000
MAX_BATCH_SIZE = 1024
MAX_LAYER_WIDTH = 4096
MAX_DEPTH = 8  # number of linear layers, i.e. len(layers) - 1
MAX_SEED = 2**63 - 1
MAX_REPLICAS = 16

SYNTHETIC_KINDS = ("blobs", "regression")
_ARTIFACT_ID = r"^sha256:[0-9a-f]{64}$"
_DATASET_ID = re.compile(r"^(builtin:digits|builtin:synthetic-[a-z0-9-]+|sha256:[0-9a-f]{64})$")

# builtin:digits is 8x8 images of 10 digits.
DIGITS_FEATURES = 64
DIGITS_CLASSES = 10


# A spec is hashed, so one job must have one spelling: "200" is not 200, true is not 1, and NaN or infinity is
# no number at all. Every numeric field of every spec version uses these two types.
Int = Annotated[int, Strict()]
Real = Annotated[float, Strict(), AllowInfNan(False)]


class SpecError(ValueError):
    """A spec that fails validation; ``errors`` lists ``(field, message)``, ``str()`` is one line."""

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{field}: {msg}" if field else msg for field, msg in errors))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(_Strict):
    kind: Literal["mlp"] = "mlp"
    layers: list[Annotated[Int, Field(ge=1, le=MAX_LAYER_WIDTH)]]
    activation: Literal["relu", "gelu", "tanh"] = "relu"

    @field_validator("layers")
    @classmethod
    def _depth(cls, layers: list[int]) -> list[int]:
        if not 2 <= len(layers) <= MAX_DEPTH + 1:
            raise ValueError(
                f"needs between 2 and {MAX_DEPTH + 1} widths (1..{MAX_DEPTH} linear layers), got {len(layers)}"
            )
        return layers

    @property
    def parameter_count(self) -> int:
        return sum(a * b + b for a, b in zip(self.layers, self.layers[1:]))


class GraphModelSpec(_Strict):
    """A v2 model: an exported training graph and its initial weights, uploaded artifacts named by sha256
    (``verde.graph.format``). The parameter count and ops per step follow from the graph, not the spec."""

    kind: Literal["graph"]
    graph: str = Field(pattern=_ARTIFACT_ID)
    weights: str = Field(pattern=_ARTIFACT_ID)


class EvalSpec(_Strict):
    """The held-out evaluation (v2): which metrics, and every how many steps (0: after the last step only)."""

    metrics: list[Literal["loss", "accuracy"]] = Field(default=["loss"], min_length=1, max_length=2)
    every: Int = Field(default=0, ge=0, le=MAX_STEPS)

    @field_validator("metrics")
    @classmethod
    def _unique(cls, metrics: list[str]) -> list[str]:
        if len(set(metrics)) != len(metrics):
            raise ValueError("metrics must not repeat")
        return metrics


class DatasetSpec(_Strict):
    id: str
    batch_size: Int = Field(ge=1, le=MAX_BATCH_SIZE)
    shuffle_seed: Int = Field(default=0, ge=0, le=MAX_SEED)

    @field_validator("id")
    @classmethod
    def _known_id(cls, value: str) -> str:
        if not _DATASET_ID.match(value):
            raise ValueError(
                "must be 'builtin:digits', 'builtin:synthetic-<kind>' or 'sha256:<64 lowercase hex>'"
            )
        if value.startswith("builtin:synthetic-"):
            kind = value.removeprefix("builtin:synthetic-")
            if kind not in SYNTHETIC_KINDS:
                raise ValueError(f"unknown synthetic dataset '{kind}', known: {', '.join(SYNTHETIC_KINDS)}")
        return value

    @property
    def synthetic_kind(self) -> str | None:
        if self.id.startswith("builtin:synthetic-"):
            return self.id.removeprefix("builtin:synthetic-")
        return None


class SGDSpec(_Strict):
    kind: Literal["sgd"]
    lr: Real = Field(gt=0, le=10)
    momentum: Real = Field(default=0.0, ge=0, lt=1)
    weight_decay: Real = Field(default=0.0, ge=0, lt=1)


class AdamSpec(_Strict):
    """``adam`` adds ``weight_decay * param`` to the gradient (L2); ``adamw`` decays the weights directly."""

    kind: Literal["adam", "adamw"]
    lr: Real = Field(gt=0, le=10)
    betas: tuple[Annotated[Real, Field(ge=0, lt=1)], Annotated[Real, Field(ge=0, lt=1)]] = (0.9, 0.999)
    eps: Real = Field(default=1e-8, gt=0, le=1)
    weight_decay: Real = Field(default=0.0, ge=0, lt=1)


class VerificationSpec(_Strict):
    replicas: Int = Field(default=1, ge=0, le=MAX_REPLICAS)
    spot_check: Real = Field(default=0.0, ge=0, le=1)


class JobSpec(_Strict):
    version: Literal[1, 2]
    model: Annotated[ModelSpec | GraphModelSpec, Field(discriminator="kind")]
    dataset: DatasetSpec
    loss: Literal["cross_entropy", "mse"]
    optimizer: Annotated[SGDSpec | AdamSpec, Field(discriminator="kind")]
    steps: Int = Field(ge=1, le=MAX_STEPS)
    seed: Int = Field(ge=0, le=MAX_SEED)
    checkpoint_every: Int = Field(ge=1)
    verification: VerificationSpec = VerificationSpec()
    eval: EvalSpec | None = None  # v2 only; left out of the canonical JSON when absent (v1 hashes unchanged)

    @field_validator("version", mode="before")
    @classmethod
    def _version_is_a_number(cls, value: Any) -> Any:
        if isinstance(value, bool):  # true == 1 in Python; in a hashed spec it is another spelling
            raise ValueError("must be the number 1 or 2, not a boolean")  # noqa: TRY004 (pydantic wants ValueError)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> JobSpec:
        if self.checkpoint_every > self.steps:
            raise ValueError(
                f"checkpoint_every: must be between 1 and steps ({self.steps}), got {self.checkpoint_every}"
            )
        if isinstance(self.model, GraphModelSpec):
            if self.version != 2:
                raise ValueError("model.kind: 'graph' needs spec version 2")
            return self
        if self.version != 1:
            raise ValueError("version: 2 is for model kind 'graph'; an mlp spec is version 1")
        if self.eval is not None:
            raise ValueError("eval: needs spec version 2 (a graph model)")
        params = self.model.parameter_count
        if params > MAX_PARAMETERS:
            raise ValueError(f"model.layers: {params} parameters, at most {MAX_PARAMETERS} allowed")
        out = self.model.layers[-1]
        digits_shape = (self.model.layers[0], out) == (DIGITS_FEATURES, DIGITS_CLASSES)
        if self.dataset.id == "builtin:digits" and not digits_shape:
            raise ValueError(
                f"model.layers: builtin:digits needs {DIGITS_FEATURES} inputs and {DIGITS_CLASSES} outputs, "
                f"got {self.model.layers[0]} and {out}"
            )
        if self.loss == "cross_entropy" and out < 2:
            raise ValueError("model.layers: cross_entropy needs at least 2 output classes")
        if self.loss == "cross_entropy" and self.dataset.synthetic_kind == "regression":
            raise ValueError("loss: builtin:synthetic-regression has real-valued targets; use mse")
        return self


# pydantic's wording for strict-type failures, said the way the spec docs say it.
_MESSAGES = {
    "finite_number": "must be a finite number",
    "int_type": "must be an integer (a JSON number, not a string or boolean)",
    "float_type": "must be a number (a JSON number, not a string or boolean)",
}


def _loc(loc: tuple[Any, ...]) -> str:
    # Drop pydantic's union-branch tags (e.g. 'adam') so the path reads like the JSON: optimizer.lr
    tags = {"optimizer": ("sgd", "adam", "adamw"), "model": ("mlp", "graph")}
    parts = [str(p) for i, p in enumerate(loc)
             if not (i > 0 and isinstance(p, str) and p in tags.get(str(loc[i - 1]), ()))]
    return ".".join(parts)


def parse_spec(data: JobSpec | dict[str, Any] | str | bytes) -> JobSpec:
    """Validate a spec from a dict or JSON text; raise ``SpecError`` naming every bad field."""
    if isinstance(data, JobSpec):
        return data
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SpecError([("", f"not valid JSON: {exc}")]) from None
    if not isinstance(data, dict):
        raise SpecError([("", f"a spec is a JSON object, got {type(data).__name__}")])
    try:
        return JobSpec.model_validate(data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            msg = _MESSAGES.get(err["type"]) or str(err["msg"]).removeprefix("Value error, ")
            if err["type"] in _MESSAGES and err["type"] != "finite_number":
                msg += f", got {type(err['input']).__name__} {err['input']!r}"
            field = _loc(err["loc"])
            # Cross-field errors already start with the field they blame.
            if not field and ":" in msg.split(" ")[0]:
                field, msg = msg.split(": ", 1)
            errors.append((field, msg))
        raise SpecError(errors) from None


def canonical_json(spec: JobSpec) -> bytes:
    """The spec with defaults filled in, keys sorted, no whitespace, UTF-8 — the bytes that ``spec_hash`` hashes."""
    return json.dumps(
        spec.model_dump(mode="json", exclude_none=True), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def spec_hash(spec: JobSpec) -> str:
    """keccak256 of ``canonical_json(spec)`` as 0x-prefixed hex (the on-chain ``specHash``)."""
    return "0x" + keccak256(canonical_json(spec)).hex()

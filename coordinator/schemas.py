"""Request and response bodies of the REST API, one family per entity (JobCreate, JobPublic, …)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, field_validator

from chain.job_market import JobTerms
from verde.spec import JobSpec

T = TypeVar("T")

# Database ids are BIGINT: anything outside is "no such thing", refused before it reaches the database.
MAX_ID = 2**62
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="coordinator id")]

ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"
UINT96_MAX = 2**96 - 1


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    """One page of a list; pass `next_cursor` back as `cursor` for the next one (null at the end)."""

    items: list[T]
    next_cursor: str | None = None


# ---------------------------------------------------------------- auth


class NonceRequest(BaseModel):
    address: str = Field(pattern=ADDRESS_PATTERN, description="the account that will sign in")


class NoncePublic(BaseModel):
    nonce: str
    message: str = Field(description="the EIP-4361 message to sign with personal_sign, unchanged")
    expires_at: dt.datetime


class LoginRequest(BaseModel):
    message: str = Field(max_length=4096)
    signature: str = Field(pattern=r"^(0x)?[0-9a-fA-F]{130}$", description="65-byte personal_sign signature")


class TokenPublic(BaseModel):
    token: str
    token_type: Literal["bearer"] = "bearer"
    address: str
    expires_at: dt.datetime


# ---------------------------------------------------------------- datasets and artifacts


class DatasetPublic(_Out):
    id: str = Field(description='"sha256:<hex>" of the uploaded .npz bytes')
    size_bytes: int
    num_examples: int
    x_shape: list[int]
    y_shape: list[int]
    x_dtype: str
    y_dtype: str
    created_at: dt.datetime


class ArtifactPublic(_Out):
    sha256: str
    size_bytes: int
    kind: str
    created_at: dt.datetime


# ---------------------------------------------------------------- jobs


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    spec: JobSpec
    price_wei: int = Field(gt=0, le=UINT96_MAX, description="escrowed payment, wei (string or integer)")
    deadline_s: int = Field(ge=60, le=365 * 24 * 3600, description="seconds from now until the job deadline")
    collateral_wei: int | None = Field(
        default=None,
        ge=0,
        le=UINT96_MAX,
        description="provider collateral; default: the coordinator's policy",
    )
    device: Literal["cpu", "cuda"] | None = Field(
        default=None,
        description="run only on a provider offering this device (RepOps gives the same bits on any, so it is a "
        "matching preference, not part of the hashed spec); null: any",
    )

    @field_validator("price_wei", "collateral_wei", mode="before")
    @classmethod
    def _decimal_string(cls, v: Any) -> Any:
        # Wei amounts exceed JavaScript's safe integers, so clients may send them as decimal strings.
        if isinstance(v, str) and v.isdigit() and len(v) <= 40:
            return int(v)
        return v


class TransactionRequest(BaseModel):
    """An unsigned transaction for the caller to sign and send."""

    to: str
    data: str
    value: str = Field(description="wei, decimal string")
    chainId: int


class JobTermsPublic(BaseModel):
    """The on-chain JobTerms of the job (PROTOCOL §5)."""

    client: str
    price: str
    specHash: str
    numSteps: int
    checkpointEvery: int
    opsPerStep: int
    collateral: str
    deadline: int

    @classmethod
    def of(cls, terms: JobTerms) -> JobTermsPublic:
        return cls(
            client=terms.client.lower(),
            price=str(terms.price),
            specHash="0x" + terms.spec_hash.hex(),
            numSteps=terms.num_steps,
            checkpointEvery=terms.checkpoint_every,
            opsPerStep=terms.ops_per_step,
            collateral=str(terms.collateral),
            deadline=terms.deadline,
        )


class JobPublic(_Out):
    id: int
    status: str
    client: str
    provider: str | None
    spec_hash: str
    price_wei: str
    collateral_wei: str
    deadline_at: dt.datetime | None
    num_steps: int
    checkpoint_every: int
    ops_per_step: int
    num_params: int
    chain_job_id: int | None
    posted_tx: str | None = Field(default=None, description="the escrow (postJob) transaction, once indexed")
    accept_by: dt.datetime | None
    trace_root: str | None
    final_model_hash: str | None
    wait_reason: str | None
    device: str | None = Field(default=None, description="the device the client asked for; null: any")
    verification: str = Field(
        default="unverified",
        description="unverified | replicated | spot-checked | disputed: how far the result was checked",
    )
    created_at: dt.datetime
    updated_at: dt.datetime


class JobCreated(BaseModel):
    job: JobPublic
    terms: JobTermsPublic
    transaction: TransactionRequest


class CancelPublic(BaseModel):
    job: JobPublic
    transaction: TransactionRequest | None = Field(
        description="the cancel tx to sign; null when nothing was escrowed"
    )


class JobEventPublic(_Out):
    id: int
    source: str
    kind: str
    message: str
    data: dict[str, Any]
    created_at: dt.datetime


class ProgressCreate(BaseModel):
    step: int = Field(ge=0, le=2**40)
    loss: float = Field(allow_inf_nan=False)


class EvalPointCreate(BaseModel):
    """A held-out evaluation the worker computed with the job's own reproducible program after `step`."""

    step: int = Field(ge=0, le=2**40)
    loss: float | None = Field(default=None, allow_inf_nan=False)
    accuracy: float | None = Field(default=None, ge=0, le=1)


class ProgressBatchCreate(BaseModel):
    """Every step's training loss since the last report (and any evaluations), oldest first."""

    points: list[ProgressCreate] = Field(default_factory=list, max_length=1000)
    evals: list[EvalPointCreate] = Field(default_factory=list, max_length=100)


class EvaluationPublic(BaseModel):
    step: int
    loss: float | None
    accuracy: float | None


class ProgressBatchRecorded(BaseModel):
    recorded: int  # points new to the coordinator (a re-sent step keeps its first value)
    latest_step: int | None


class ProgressPointPublic(_Out):
    step: int
    loss: float
    created_at: dt.datetime


class ProgressPublic(BaseModel):
    job_id: int
    num_steps: int
    latest_step: int | None
    latest_loss: float | None
    points: list[ProgressPointPublic]


class ResultArtifactsCreate(BaseModel):
    model_artifact: str = Field(pattern=r"^(sha256:)?[0-9a-f]{64}$")
    checkpoint_artifact: str | None = Field(default=None, pattern=r"^(sha256:)?[0-9a-f]{64}$")


class VerificationCreate(BaseModel):
    """A verifier's decision about a job (timeline kind "verification"); see docs/API.md."""

    decision: Literal["skipped", "agrees", "not_challenged", "challenged", "reverifying", "late", "failed"]
    reason: str = Field(default="", max_length=500)
    game_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class DeclineCreate(BaseModel):
    """The assigned provider declines a job before accepting it (timeline kind "declined")."""

    reason: str = Field(min_length=1, max_length=500)


class ResultPublic(BaseModel):
    job_id: int
    status: str
    trace_root: str | None
    final_model_hash: str | None
    model_artifact: str | None
    checkpoint_artifact: str | None
    # the held-out evaluation of the final model, as the worker computed it with the job's own program
    evaluation: EvaluationPublic | None = None


# ---------------------------------------------------------------- providers


class Capabilities(BaseModel):
    devices: list[Literal["cpu", "cuda"]] = Field(min_length=1, max_length=8)
    max_params: int = Field(ge=0, le=10**12)
    # the memory it offers one training step (bytes); unset: no limit advertised
    max_step_bytes: int | None = Field(default=None, ge=0, le=2**50)


class HeartbeatCreate(BaseModel):
    capabilities: Capabilities
    queue_depth: int = Field(ge=0, le=10_000)
    repops_version: str = Field(min_length=1, max_length=32)


class ProviderRecord(BaseModel):
    """What the chain says this provider did, and whether the matcher gives it work (coordinator/standing.py)."""

    jobs_finalized: int
    jobs_failed: int
    disputes_won: int
    disputes_lost: int
    slashed_wei: str
    suspended: str | None = Field(description="why the matcher gives it no jobs (slashed, not restaked); null: none")


class ProviderPublic(_Out):
    address: str
    free_stake_wei: str
    locked_stake_wei: str
    unbonding_wei: str
    slashed_wei: str
    devices: list[str]
    max_params: int
    queue_depth: int
    repops_version: str | None
    last_heartbeat_at: dt.datetime | None
    last_assigned_at: dt.datetime | None
    alive: bool = False
    record: ProviderRecord | None = None


# ---------------------------------------------------------------- disputes


class DisputeMovePublic(_Out):
    kind: str
    mover: str | None
    tx_hash: str
    block_number: int
    args: dict[str, Any]


class DisputePublic(_Out):
    id: int
    chain_job_id: int
    job_id: int | None = None
    defender: str | None
    challenger: str | None
    phase: str
    level: int
    lo: int | None
    hi: int | None
    deadline_at: dt.datetime | None = Field(description="the contract's deadline: from then on timeout() settles")
    clock_defender_s: int | None = Field(None, description="seconds left on the defender's whole-game chess clock")
    clock_challenger_s: int | None = Field(None, description="seconds left on the challenger's chess clock")
    round_started_at: dt.datetime | None = Field(None, description="when the current round began (owed clocks run)")
    waiting_on: Literal["both", "defender", "challenger", "referee"] | None = Field(
        None, description="who still owes a move this round; None once the game ended")
    outcome: str | None


class DisputeDetail(DisputePublic):
    moves: list[DisputeMovePublic] = []


# ---------------------------------------------------------------- health


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ok", "degraded"]
    database: bool
    rpc: bool
    indexed_block: int | None

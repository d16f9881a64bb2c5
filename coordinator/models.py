"""The coordinator's tables as typed SQLAlchemy 2 models; Alembic (migrations/) builds them, never create_all."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Deterministic constraint names so Alembic migrations are identical on Postgres and SQLite.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY, Postgres wants BIGINT for long-lived tables.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that is always timezone-aware UTC in Python (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# Wei amounts exceed 64 bits; they are stored as decimal strings and compared as Python ints.
Wei = String(80)
Address = String(42)
Hash32 = String(66)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class JobStatus:
    """Coordinator-side job states; every one after awaiting_funding is derived from confirmed chain events."""

    AWAITING_FUNDING = "awaiting_funding"
    OPEN = "open"
    ASSIGNED = "assigned"
    RUNNING = "running"
    SUBMITTED = "submitted"
    DISPUTED = "disputed"
    FINALIZED = "finalized"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    ALL = (
        AWAITING_FUNDING,
        OPEN,
        ASSIGNED,
        RUNNING,
        SUBMITTED,
        DISPUTED,
        FINALIZED,
        FAILED,
        CANCELLED,
        EXPIRED,
    )
    TERMINAL = (FINALIZED, FAILED, CANCELLED, EXPIRED)


class Spec(Base):
    """A canonical job spec, content-addressed by its keccak256 spec hash."""

    __tablename__ = "specs"
    spec_hash: Mapped[str] = mapped_column(Hash32, primary_key=True)
    canonical_json: Mapped[str] = mapped_column(Text)
    num_params: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Job(Base):
    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    client: Mapped[str] = mapped_column(Address, index=True)
    spec_hash: Mapped[str] = mapped_column(ForeignKey("specs.spec_hash"), index=True)
    price_wei: Mapped[str] = mapped_column(Wei)
    collateral_wei: Mapped[str] = mapped_column(Wei, default="0")
    deadline_s: Mapped[int] = mapped_column(BigInteger)
    num_steps: Mapped[int] = mapped_column(BigInteger)
    checkpoint_every: Mapped[int] = mapped_column(BigInteger)
    ops_per_step: Mapped[int] = mapped_column(Integer)
    num_params: Mapped[int] = mapped_column(BigInteger)
    step_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)  # memory one step needs, at most
    device: Mapped[str | None] = mapped_column(String(16), default=None)
    repops_version: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(24), index=True, default=JobStatus.AWAITING_FUNDING)
    # Chain-derived fields (reset and replayed from chain_events on a reorg).
    chain_job_id: Mapped[int | None] = mapped_column(BigInteger, unique=True, default=None)
    provider: Mapped[str | None] = mapped_column(Address, index=True, default=None)
    accept_by: Mapped[dt.datetime | None] = mapped_column(default=None)
    deadline_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    trace_root: Mapped[str | None] = mapped_column(Hash32, default=None)
    final_model_hash: Mapped[str | None] = mapped_column(Hash32, default=None)
    posted_tx: Mapped[str | None] = mapped_column(Hash32, default=None)
    # Worker-registered result artifacts (off-chain, checked against final_model_hash by the client).
    model_artifact: Mapped[str | None] = mapped_column(String(80), default=None)
    checkpoint_artifact: Mapped[str | None] = mapped_column(String(80), default=None)
    wait_reason: Mapped[str | None] = mapped_column(String(200), default=None)
    # How far the result was checked (Verification); moved by listed verifiers' decisions and by challenges.
    verification: Mapped[str] = mapped_column(String(16), default="unverified", server_default="unverified")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (Index("ix_jobs_status_id", "status", "id"),)


class Verification:
    """A job's `verification`: nobody re-ran it; a verifier re-ran it because the spec asked for replicas, or
    because the spot-check draw picked it, and agreed; or its result was challenged."""

    UNVERIFIED = "unverified"
    REPLICATED = "replicated"
    SPOT_CHECKED = "spot-checked"
    DISPUTED = "disputed"
    ALL = (UNVERIFIED, REPLICATED, SPOT_CHECKED, DISPUTED)


class Dataset(Base):
    __tablename__ = "datasets"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)  # "sha256:<hex>"
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    num_examples: Mapped[int] = mapped_column(BigInteger)
    x_shape: Mapped[list[Any]] = mapped_column(JSON)
    y_shape: Mapped[list[Any]] = mapped_column(JSON)
    x_dtype: Mapped[str] = mapped_column(String(16))
    y_dtype: Mapped[str] = mapped_column(String(16))
    uploaded_by: Mapped[str | None] = mapped_column(Address, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Artifact(Base):
    """A content-addressed blob on local disk (datasets, checkpoints, models); the bytes live under artifact_dir."""

    __tablename__ = "artifacts"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    uploaded_by: Mapped[str | None] = mapped_column(Address, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Provider(Base):
    __tablename__ = "providers"
    address: Mapped[str] = mapped_column(Address, primary_key=True)
    # From confirmed StakeManager events.
    free_stake_wei: Mapped[str] = mapped_column(Wei, default="0")
    locked_stake_wei: Mapped[str] = mapped_column(Wei, default="0")
    unbonding_wei: Mapped[str] = mapped_column(Wei, default="0")
    slashed_wei: Mapped[str] = mapped_column(Wei, default="0")
    # From the latest signed heartbeat.
    devices: Mapped[list[Any]] = mapped_column(JSON, default=list)
    max_params: Mapped[int] = mapped_column(BigInteger, default=0)
    max_step_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)  # None: not advertised
    queue_depth: Mapped[int] = mapped_column(Integer, default=0)
    repops_version: Mapped[str | None] = mapped_column(String(32), default=None)
    last_heartbeat_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # Fairness: least-recently-assigned providers go first.
    last_assigned_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Heartbeat(Base):
    __tablename__ = "heartbeats"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(ForeignKey("providers.address"), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AssignmentStatus:
    PENDING = "pending"  # claimed in the DB, assign tx not yet mined
    ASSIGNED = "assigned"  # assign tx mined
    ACCEPTED = "accepted"
    EXPIRED = "expired"
    STALLED = "stalled"  # accepted, then silent for a liveness window or abandoned: not offered the job again
    FAILED = "failed"
    DONE = "done"
    ACTIVE = (PENDING, ASSIGNED, ACCEPTED)


class Assignment(Base):
    """The matcher's claim that a job goes to a provider; at most one active claim per job (partial unique index)."""

    __tablename__ = "assignments"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    provider: Mapped[str] = mapped_column(Address, index=True)
    status: Mapped[str] = mapped_column(String(16), default=AssignmentStatus.PENDING)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    tx_hash: Mapped[str | None] = mapped_column(Hash32, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index(
            "uq_assignments_active_job",
            "job_id",
            unique=True,
            postgresql_where=text("active"),
            sqlite_where=text("active"),
        ),
    )


class Dispute(Base):
    __tablename__ = "disputes"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)  # on-chain dispute id
    chain_job_id: Mapped[int] = mapped_column(BigInteger, index=True)
    defender: Mapped[str | None] = mapped_column(Address, default=None)
    challenger: Mapped[str | None] = mapped_column(Address, default=None)
    phase: Mapped[str] = mapped_column(String(24), default="open")
    level: Mapped[int] = mapped_column(Integer, default=0)
    lo: Mapped[int | None] = mapped_column(BigInteger, default=None)
    hi: Mapped[int | None] = mapped_column(BigInteger, default=None)
    deadline_at: Mapped[dt.datetime | None] = mapped_column(default=None)  # the contract's: timeout() from then
    # The contract's chess clocks (seconds left for the whole game), when the round began, who owes a move
    # ("both", "defender", "challenger", "referee"; None once ended): read by the indexer after each batch.
    clock_defender_s: Mapped[int | None] = mapped_column(BigInteger, default=None)
    clock_challenger_s: Mapped[int | None] = mapped_column(BigInteger, default=None)
    round_started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    waiting_on: Mapped[str | None] = mapped_column(String(16), default=None)
    outcome: Mapped[str | None] = mapped_column(String(24), default=None)
    opened_tx: Mapped[str | None] = mapped_column(Hash32, default=None)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DisputeMove(Base):
    __tablename__ = "dispute_moves"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dispute_id: Mapped[int] = mapped_column(ForeignKey("disputes.id", ondelete="CASCADE"), index=True)
    chain_event_id: Mapped[int] = mapped_column(
        ForeignKey("chain_events.id", ondelete="CASCADE"), unique=True
    )
    mover: Mapped[str | None] = mapped_column(Address, default=None)
    kind: Mapped[str] = mapped_column(String(48))
    tx_hash: Mapped[str] = mapped_column(Hash32)
    block_number: Mapped[int] = mapped_column(BigInteger)
    args: Mapped[dict[str, Any]] = mapped_column(JSON)


class ChainEvent(Base):
    """One decoded log, keyed by (block hash, log index) so re-reading a block never duplicates it."""

    __tablename__ = "chain_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    block_hash: Mapped[str] = mapped_column(Hash32)
    log_index: Mapped[int] = mapped_column(Integer)
    tx_hash: Mapped[str] = mapped_column(Hash32)
    contract: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    args: Mapped[dict[str, Any]] = mapped_column(JSON)
    block_time: Mapped[dt.datetime | None] = mapped_column(default=None)
    # Which derived entities this log touches, so a reorg knows what to recompute.
    chain_job_id: Mapped[int | None] = mapped_column(BigInteger, index=True, default=None)
    provider: Mapped[str | None] = mapped_column(Address, index=True, default=None)
    dispute_id: Mapped[int | None] = mapped_column(BigInteger, index=True, default=None)

    __table_args__ = (UniqueConstraint("block_hash", "log_index", name="uq_chain_events_block_log"),)


class IndexedBlock(Base):
    """Hash of every block the indexer has processed (recent window), to find a reorg's fork point."""

    __tablename__ = "indexed_blocks"
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(Hash32)


class IndexerCursor(Base):
    __tablename__ = "indexer_cursor"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(Hash32)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class JobEvent(Base):
    """One entry of a job's timeline: chain events, matcher notes, worker progress, verification, dispute moves."""

    __tablename__ = "job_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    source: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(48))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    chain_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("chain_events.id", ondelete="CASCADE"), index=True, default=None
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ProgressPoint(Base):
    __tablename__ = "progress_points"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    step: Mapped[int] = mapped_column(BigInteger)
    loss: Mapped[float] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("job_id", "step", name="uq_progress_points_job_step"),)


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    client: Mapped[str] = mapped_column(Address, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AuthNonce(Base):
    __tablename__ = "auth_nonces"
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(Address)
    issued_at: Mapped[dt.datetime] = mapped_column()
    expires_at: Mapped[dt.datetime] = mapped_column()
    used_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class AuthToken(Base):
    __tablename__ = "auth_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(Address, index=True)
    expires_at: Mapped[dt.datetime] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

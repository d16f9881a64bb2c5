"""Initial schema: every coordinator table (generated from coordinator/models.py, then reviewed).

Revision ID: 0001
Revises:
Create Date: 2026-11-27 20:52:19.915907
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "artifacts",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("uploaded_by", sa.String(length=42), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_artifacts")),
    )
    op.create_table(
        "auth_nonces",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_auth_nonces")),
    )
    op.create_table(
        "auth_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_auth_tokens")),
    )
    with op.batch_alter_table("auth_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auth_tokens_address"), ["address"], unique=False)

    op.create_table(
        "chain_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("contract", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("chain_job_id", sa.BigInteger(), nullable=True),
        sa.Column("provider", sa.String(length=42), nullable=True),
        sa.Column("dispute_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_events")),
        sa.UniqueConstraint("block_hash", "log_index", name="uq_chain_events_block_log"),
    )
    with op.batch_alter_table("chain_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chain_events_block_number"), ["block_number"], unique=False)
        batch_op.create_index(batch_op.f("ix_chain_events_chain_job_id"), ["chain_job_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_chain_events_dispute_id"), ["dispute_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_chain_events_provider"), ["provider"], unique=False)

    op.create_table(
        "datasets",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("num_examples", sa.BigInteger(), nullable=False),
        sa.Column("x_shape", sa.JSON(), nullable=False),
        sa.Column("y_shape", sa.JSON(), nullable=False),
        sa.Column("x_dtype", sa.String(length=16), nullable=False),
        sa.Column("y_dtype", sa.String(length=16), nullable=False),
        sa.Column("uploaded_by", sa.String(length=42), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
    )
    op.create_table(
        "disputes",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("chain_job_id", sa.BigInteger(), nullable=False),
        sa.Column("defender", sa.String(length=42), nullable=True),
        sa.Column("challenger", sa.String(length=42), nullable=True),
        sa.Column("phase", sa.String(length=24), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("lo", sa.BigInteger(), nullable=True),
        sa.Column("hi", sa.BigInteger(), nullable=True),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=24), nullable=True),
        sa.Column("opened_tx", sa.String(length=66), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disputes")),
    )
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_disputes_chain_job_id"), ["chain_job_id"], unique=False)

    op.create_table(
        "indexed_blocks",
        sa.Column("number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_indexed_blocks")),
    )
    op.create_table(
        "indexer_cursor",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_indexer_cursor")),
    )
    op.create_table(
        "providers",
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("free_stake_wei", sa.String(length=80), nullable=False),
        sa.Column("locked_stake_wei", sa.String(length=80), nullable=False),
        sa.Column("unbonding_wei", sa.String(length=80), nullable=False),
        sa.Column("slashed_wei", sa.String(length=80), nullable=False),
        sa.Column("devices", sa.JSON(), nullable=False),
        sa.Column("max_params", sa.BigInteger(), nullable=False),
        sa.Column("queue_depth", sa.Integer(), nullable=False),
        sa.Column("repops_version", sa.String(length=32), nullable=True),
        sa.Column("last_heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_providers")),
    )
    op.create_table(
        "specs",
        sa.Column("spec_hash", sa.String(length=66), nullable=False),
        sa.Column("canonical_json", sa.Text(), nullable=False),
        sa.Column("num_params", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("spec_hash", name=op.f("pk_specs")),
    )
    op.create_table(
        "dispute_moves",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("dispute_id", sa.BigInteger(), nullable=False),
        sa.Column("chain_event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("mover", sa.String(length=42), nullable=True),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chain_event_id"],
            ["chain_events.id"],
            name=op.f("fk_dispute_moves_chain_event_id_chain_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dispute_id"],
            ["disputes.id"],
            name=op.f("fk_dispute_moves_dispute_id_disputes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispute_moves")),
        sa.UniqueConstraint("chain_event_id", name=op.f("uq_dispute_moves_chain_event_id")),
    )
    with op.batch_alter_table("dispute_moves", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dispute_moves_dispute_id"), ["dispute_id"], unique=False)

    op.create_table(
        "heartbeats",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("provider", sa.String(length=42), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider"], ["providers.address"], name=op.f("fk_heartbeats_provider_providers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_heartbeats")),
    )
    with op.batch_alter_table("heartbeats", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_heartbeats_provider"), ["provider"], unique=False)

    op.create_table(
        "jobs",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("client", sa.String(length=42), nullable=False),
        sa.Column("spec_hash", sa.String(length=66), nullable=False),
        sa.Column("price_wei", sa.String(length=80), nullable=False),
        sa.Column("collateral_wei", sa.String(length=80), nullable=False),
        sa.Column("deadline_s", sa.BigInteger(), nullable=False),
        sa.Column("num_steps", sa.BigInteger(), nullable=False),
        sa.Column("checkpoint_every", sa.BigInteger(), nullable=False),
        sa.Column("ops_per_step", sa.Integer(), nullable=False),
        sa.Column("num_params", sa.BigInteger(), nullable=False),
        sa.Column("device", sa.String(length=16), nullable=True),
        sa.Column("repops_version", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("chain_job_id", sa.BigInteger(), nullable=True),
        sa.Column("provider", sa.String(length=42), nullable=True),
        sa.Column("accept_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("trace_root", sa.String(length=66), nullable=True),
        sa.Column("final_model_hash", sa.String(length=66), nullable=True),
        sa.Column("posted_tx", sa.String(length=66), nullable=True),
        sa.Column("model_artifact", sa.String(length=80), nullable=True),
        sa.Column("checkpoint_artifact", sa.String(length=80), nullable=True),
        sa.Column("wait_reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["spec_hash"], ["specs.spec_hash"], name=op.f("fk_jobs_spec_hash_specs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("chain_job_id", name=op.f("uq_jobs_chain_job_id")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_jobs_client"), ["client"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_provider"), ["provider"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_spec_hash"), ["spec_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_status"), ["status"], unique=False)
        batch_op.create_index("ix_jobs_status_id", ["status", "id"], unique=False)

    op.create_table(
        "assignments",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("job_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("provider", sa.String(length=42), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_assignments_job_id_jobs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
    )
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assignments_job_id"), ["job_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_assignments_provider"), ["provider"], unique=False)
        batch_op.create_index(
            "uq_assignments_active_job",
            ["job_id"],
            unique=True,
            postgresql_where=sa.text("active"),
            sqlite_where=sa.text("active"),
        )

    op.create_table(
        "idempotency_keys",
        sa.Column("client", sa.String(length=42), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_idempotency_keys_job_id_jobs")),
        sa.PrimaryKeyConstraint("client", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_table(
        "job_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("job_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("chain_event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["chain_event_id"],
            ["chain_events.id"],
            name=op.f("fk_job_events_chain_event_id_chain_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_job_events_job_id_jobs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_events")),
    )
    with op.batch_alter_table("job_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_events_chain_event_id"), ["chain_event_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_job_events_job_id"), ["job_id"], unique=False)

    op.create_table(
        "progress_points",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("job_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("loss", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_progress_points_job_id_jobs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_progress_points")),
        sa.UniqueConstraint("job_id", "step", name="uq_progress_points_job_step"),
    )
    with op.batch_alter_table("progress_points", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_progress_points_job_id"), ["job_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("progress_points", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_progress_points_job_id"))

    op.drop_table("progress_points")
    with op.batch_alter_table("job_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_events_job_id"))
        batch_op.drop_index(batch_op.f("ix_job_events_chain_event_id"))

    op.drop_table("job_events")
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_assignments_active_job", postgresql_where=sa.text("active"), sqlite_where=sa.text("active")
        )
        batch_op.drop_index(batch_op.f("ix_assignments_provider"))
        batch_op.drop_index(batch_op.f("ix_assignments_job_id"))

    op.drop_table("assignments")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_status_id")
        batch_op.drop_index(batch_op.f("ix_jobs_status"))
        batch_op.drop_index(batch_op.f("ix_jobs_spec_hash"))
        batch_op.drop_index(batch_op.f("ix_jobs_provider"))
        batch_op.drop_index(batch_op.f("ix_jobs_client"))

    op.drop_table("jobs")
    with op.batch_alter_table("heartbeats", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_heartbeats_provider"))

    op.drop_table("heartbeats")
    with op.batch_alter_table("dispute_moves", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dispute_moves_dispute_id"))

    op.drop_table("dispute_moves")
    op.drop_table("specs")
    op.drop_table("providers")
    op.drop_table("indexer_cursor")
    op.drop_table("indexed_blocks")
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disputes_chain_job_id"))

    op.drop_table("disputes")
    op.drop_table("datasets")
    with op.batch_alter_table("chain_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chain_events_provider"))
        batch_op.drop_index(batch_op.f("ix_chain_events_dispute_id"))
        batch_op.drop_index(batch_op.f("ix_chain_events_chain_job_id"))
        batch_op.drop_index(batch_op.f("ix_chain_events_block_number"))

    op.drop_table("chain_events")
    with op.batch_alter_table("auth_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_tokens_address"))

    op.drop_table("auth_tokens")
    op.drop_table("auth_nonces")
    op.drop_table("artifacts")

"""Each dispute's chess clocks as the contract keeps them: seconds left per party, the round's start, who owes a move.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 11:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clock_defender_s", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("clock_challenger_s", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("round_started_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("waiting_on", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.drop_column("waiting_on")
        batch_op.drop_column("round_started_at")
        batch_op.drop_column("clock_challenger_s")
        batch_op.drop_column("clock_defender_s")

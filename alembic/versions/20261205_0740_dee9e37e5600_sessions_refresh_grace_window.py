"""sessions refresh grace window: the token the last rotation spent, and when

Revision ID: dee9e37e5600
Revises: 5b1e0c2f7a44
Create Date: 2026-12-05 07:40:10.333408+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "dee9e37e5600"
down_revision: str | Sequence[str] | None = "5b1e0c2f7a44"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("previous_refresh_token_hash", sa.String(length=64), nullable=True)
        )
        batch_op.add_column(sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("rotated_at")
        batch_op.drop_column("previous_refresh_token_hash")

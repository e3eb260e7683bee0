"""login throttles count checks in flight

Revision ID: b90b05536f96
Revises: bc99fc0e66e8
Create Date: 2026-11-27 15:48:45.471469+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b90b05536f96"
down_revision: str | Sequence[str] | None = "bc99fc0e66e8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("login_throttles", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("in_flight", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("login_throttles", schema=None) as batch_op:
        batch_op.drop_column("in_flight")

"""users count email changes

Revision ID: 5b1e0c2f7a44
Revises: 30ec7fd301ce
Create Date: 2026-12-04 19:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b1e0c2f7a44"
down_revision: str | Sequence[str] | None = "30ec7fd301ce"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Links mailed before this revision were not bound to the count: they stop working.
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("email_changes", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("email_changes")

"""login throttle reservations expire

Revision ID: 30ec7fd301ce
Revises: e80b950261b2
Create Date: 2026-12-04 16:30:15.010414+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "30ec7fd301ce"
down_revision: str | Sequence[str] | None = "e80b950261b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Checks counted in flight before reservations expired are over by now: the epoch.
    with op.batch_alter_table("login_throttles", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "in_flight_until",
                sa.DateTime(timezone=True),
                server_default="1970-01-01 00:00:00.000000",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("login_throttles", schema=None) as batch_op:
        batch_op.drop_column("in_flight_until")

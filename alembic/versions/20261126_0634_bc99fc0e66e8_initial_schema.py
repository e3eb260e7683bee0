"""initial schema

Revision ID: bc99fc0e66e8
Revises:
Create Date: 2026-11-26 06:34:07.189576+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "bc99fc0e66e8"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_throttles",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttles")),
    )
    with op.batch_alter_table("login_throttles", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_login_throttles_window_started_at"), ["window_started_at"], unique=False
        )

    op.create_table(
        "users",
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column(
            "role",
            sa.Enum("USER", "ADMIN", name="user_role", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index("ix_users_created_at_id", ["created_at", "id"], unique=False)
        batch_op.create_index("ix_users_name_id", ["name", "id"], unique=False)
        batch_op.create_index("ix_users_updated_at_id", ["updated_at", "id"], unique=False)

    op.create_table(
        "items",
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=10000), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_items_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_items")),
    )
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.create_index("ix_items_created_at_id", ["created_at", "id"], unique=False)
        batch_op.create_index(
            "ix_items_owner_id_created_at_id", ["owner_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_items_owner_id_title_id", ["owner_id", "title", "id"], unique=False
        )
        batch_op.create_index(
            "ix_items_owner_id_updated_at_id", ["owner_id", "updated_at", "id"], unique=False
        )
        batch_op.create_index("ix_items_title_id", ["title", "id"], unique=False)
        batch_op.create_index("ix_items_updated_at_id", ["updated_at", "id"], unique=False)

    op.create_table(
        "sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("refresh_token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_agent", sa.String(length=255), nullable=True),
        sa.Column("ip_address", sa.String(length=45), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
    )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sessions_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_sessions_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sessions_user_id"))
        batch_op.drop_index(batch_op.f("ix_sessions_expires_at"))

    op.drop_table("sessions")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index("ix_items_updated_at_id")
        batch_op.drop_index("ix_items_title_id")
        batch_op.drop_index("ix_items_owner_id_updated_at_id")
        batch_op.drop_index("ix_items_owner_id_title_id")
        batch_op.drop_index("ix_items_owner_id_created_at_id")
        batch_op.drop_index("ix_items_created_at_id")

    op.drop_table("items")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_updated_at_id")
        batch_op.drop_index("ix_users_name_id")
        batch_op.drop_index("ix_users_created_at_id")

    op.drop_table("users")
    with op.batch_alter_table("login_throttles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_throttles_window_started_at"))

    op.drop_table("login_throttles")

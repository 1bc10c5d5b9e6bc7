"""Operators, per-environment roles, server-side sessions, login attempts."""

import sqlalchemy as sa
from alembic import op

revision = "c20261126_0002"
down_revision = "c20261126_0001"

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "console_user",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("disabled_at", TZ),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_console_user"),
        sa.UniqueConstraint("name", name="uq_console_user_name"),
    )
    op.create_table(
        "console_user_role",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("environment", sa.String(32), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("granted_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_console_user_role"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["console_user.id"], ondelete="CASCADE", name="fk_console_user_role_user_id_console_user"
        ),
        sa.UniqueConstraint("user_id", "environment", name="uq_console_user_role_user_id"),
        sa.CheckConstraint("role IN ('viewer', 'operator', 'admin', 'auditor')", name="ck_console_user_role_role"),
    )
    op.create_table(
        "console_session",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("current_env", sa.String(32), nullable=False),
        sa.Column("last_seen_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("revoked_at", TZ),
        sa.Column("client_ip", sa.String(64)),
        sa.Column("user_agent", sa.String(256)),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name="pk_console_session"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["console_user.id"], ondelete="CASCADE", name="fk_console_session_user_id_console_user"
        ),
    )
    op.create_index("ix_console_session_user_id", "console_session", ["user_id"])
    op.create_table(
        "console_login_attempt",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("client_ip", sa.String(64), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("attempted_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_console_login_attempt"),
    )
    op.create_index("ix_console_login_attempt_name_at", "console_login_attempt", ["username", "attempted_at"])
    op.create_index("ix_console_login_attempt_ip_at", "console_login_attempt", ["client_ip", "attempted_at"])


def downgrade() -> None:
    op.drop_table("console_login_attempt")
    op.drop_table("console_session")
    op.drop_table("console_user_role")
    op.drop_table("console_user")

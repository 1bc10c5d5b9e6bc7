"""Console operations: personal API tokens and used typed confirmations."""

import sqlalchemy as sa
from alembic import op

revision = "c20261126_0004"
down_revision = "c20261126_0002"

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "console_api_token",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_id", sa.String(16), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("expires_at", TZ),
        sa.Column("last_used_at", TZ),
        sa.Column("revoked_at", TZ),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_console_api_token"),
        sa.UniqueConstraint("token_id", name="uq_console_api_token_token_id"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["console_user.id"], ondelete="CASCADE", name="fk_console_api_token_user_id_console_user"
        ),
    )
    op.create_index("ix_console_api_token_user_id", "console_api_token", ["user_id"])
    op.create_table(
        "console_used_confirmation",
        sa.Column("nonce", sa.String(32), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("environment", sa.String(32), nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("used_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name="pk_console_used_confirmation"),
    )
    op.create_index("ix_console_used_confirmation_expires_at", "console_used_confirmation", ["expires_at"])


def downgrade() -> None:
    op.drop_table("console_used_confirmation")
    op.drop_table("console_api_token")

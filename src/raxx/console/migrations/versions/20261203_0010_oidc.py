"""OpenID Connect sign-in: users from the identity provider, break-glass accounts, how a
session was authenticated, and the provider round trips (state, nonce, PKCE verifier).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "c20261203_0010_oidc"
down_revision = "c20261203_0009_merge"

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.alter_column("console_user", "password_hash", nullable=True)
    op.add_column("console_user", sa.Column("break_glass", sa.Boolean(), server_default="false", nullable=False))
    op.add_column("console_user", sa.Column("oidc_issuer", sa.String(512)))
    op.add_column("console_user", sa.Column("oidc_subject", sa.String(255)))
    op.create_unique_constraint("uq_console_user_oidc_issuer", "console_user", ["oidc_issuer", "oidc_subject"])
    op.add_column("console_session", sa.Column("auth_method", sa.String(16), server_default="password", nullable=False))
    op.add_column("console_session", sa.Column("auth_time", TZ))
    op.add_column("console_session", sa.Column("id_token", sa.Text()))
    op.create_table(
        "console_oidc_flow",
        sa.Column("state_hash", sa.String(64), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("code_verifier", sa.String(128), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("session_hash", sa.String(64)),
        sa.Column("next_path", sa.String(512)),
        sa.Column("resume", postgresql.JSONB()),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("used_at", TZ),
        sa.PrimaryKeyConstraint("state_hash", name="pk_console_oidc_flow"),
        sa.CheckConstraint("purpose IN ('login', 'stepup')", name="ck_console_oidc_flow_purpose"),
    )
    op.create_index("ix_console_oidc_flow_nonce", "console_oidc_flow", ["nonce"])


def downgrade() -> None:
    op.drop_table("console_oidc_flow")
    op.drop_column("console_session", "id_token")
    op.drop_column("console_session", "auth_time")
    op.drop_column("console_session", "auth_method")
    op.drop_constraint("uq_console_user_oidc_issuer", "console_user")
    op.drop_column("console_user", "oidc_subject")
    op.drop_column("console_user", "oidc_issuer")
    op.drop_column("console_user", "break_glass")
    op.alter_column("console_user", "password_hash", nullable=False)

"""One-time notices ("Order placed.") kept on the server, tied to a session and a request.

A redirect after an action carries only ``?notice=<request id>``; the page shows the notice
stored for *its* session, request and environment, once, and deletes it. A crafted link
(``?done=placed``, someone else's request id) shows nothing.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "c20261203_0007_flash"
down_revision = "c20261203_0006_audit_session_env"


def upgrade() -> None:
    op.create_table(
        "console_flash",
        sa.Column("session_hash", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("environment", sa.String(32), nullable=True),
        sa.Column("key", sa.String(32), nullable=False),
        sa.Column("counts", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_hash"],
            ["console_session.id_hash"],
            name=op.f("fk_console_flash_session_hash_console_session"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_hash", "request_id", name=op.f("pk_console_flash")),
    )


def downgrade() -> None:
    op.drop_table("console_flash")

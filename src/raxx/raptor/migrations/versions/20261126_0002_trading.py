"""Trading: tokens, orders, the trading switch, the request log and the paper broker's book."""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from raxx.common.migration_ops import for_runtime_role

revision = "r20261126_0002"
down_revision = "r20261126_0001"


def _order_columns() -> list[sa.Column[Any]]:
    """The columns an order and the paper venue's copy of it begin with (new ones for each table)."""
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_order_id", sa.String(length=128), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("time_in_force", sa.String(length=4), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=28, scale=8), nullable=False),
        sa.Column("limit_price", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("filled_quantity", sa.Numeric(precision=28, scale=8), server_default="0", nullable=False),
        sa.Column("filled_avg_price", sa.Numeric(precision=28, scale=8), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("environment", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("scopes", sa.ARRAY(sa.String(length=16)), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
    )
    op.create_table(
        "orders",
        *_order_columns(),
        sa.Column(
            "fills", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        sa.Column("reject_reason", sa.Text(), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("broker_order_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("canceled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("filled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.CheckConstraint(
            "(type = 'limit') = (limit_price IS NOT NULL)", name=op.f("ck_orders_limit_price_iff_limit")
        ),
        sa.CheckConstraint("side IN ('buy', 'sell')", name=op.f("ck_orders_side")),
        sa.CheckConstraint(
            "status IN ('new', 'partially_filled', 'filled', 'canceled', 'rejected')", name=op.f("ck_orders_status")
        ),
        sa.CheckConstraint("time_in_force IN ('day', 'gtc')", name=op.f("ck_orders_time_in_force")),
        sa.CheckConstraint("type IN ('market', 'limit')", name=op.f("ck_orders_type")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_orders_quantity_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("client_order_id", name=op.f("uq_orders_client_order_id")),
    )
    op.create_index("ix_orders_created_at_id", "orders", ["created_at", "id"], unique=False)
    op.create_index(
        "ix_orders_open",
        "orders",
        ["updated_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('new', 'partially_filled')"),
    )
    op.create_index("ix_orders_symbol_created_at", "orders", ["symbol", "created_at"], unique=False)
    op.create_table(
        "paper_account",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), server_default="USD", nullable=False),
        sa.Column("cash", sa.Numeric(precision=32, scale=12), nullable=False),
        sa.Column("reserved", sa.Numeric(precision=32, scale=12), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_paper_account_singleton")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_account")),
        sa.UniqueConstraint("account_id", name=op.f("uq_paper_account_account_id")),
    )
    op.create_table(
        "paper_orders",
        *_order_columns(),
        sa.Column("reserved_cash", sa.Numeric(precision=32, scale=12), server_default="0", nullable=False),
        sa.Column(
            "fills", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("canceled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("filled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_orders")),
        sa.UniqueConstraint("client_order_id", name=op.f("uq_paper_orders_client_order_id")),
    )
    op.create_index(
        "ix_paper_orders_open",
        "paper_orders",
        ["symbol"],
        unique=False,
        postgresql_where=sa.text("status IN ('new', 'partially_filled')"),
    )
    op.create_table(
        "paper_positions",
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=28, scale=8), server_default="0", nullable=False),
        sa.Column("held", sa.Numeric(precision=28, scale=8), server_default="0", nullable=False),
        sa.Column("cost_basis", sa.Numeric(precision=32, scale=12), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("symbol", name=op.f("pk_paper_positions")),
    )
    op.create_table(
        "paper_prices",
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("price", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("symbol", name=op.f("pk_paper_prices")),
    )
    op.create_table(
        "request_log",
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_request_log")),
    )
    op.create_table(
        "trading_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.CheckConstraint("action IN ('halt', 'resume')", name=op.f("ck_trading_events_action")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trading_events")),
    )
    op.create_index(op.f("ix_trading_events_at"), "trading_events", ["at"], unique=False)
    op.create_table(
        "trading_state",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("halted", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("token_id", sa.String(length=32), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.CheckConstraint("id = 1", name=op.f("ck_trading_state_singleton")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trading_state")),
    )
    # The switch starts open; there is exactly one row, forever.
    op.execute("INSERT INTO trading_state (id, halted) VALUES (1, false)")
    # History is append-only for the app: who halted and which request did what must not be edited.
    for_runtime_role(
        "REVOKE UPDATE, DELETE ON trading_events FROM {role}",
        "REVOKE UPDATE, DELETE ON request_log FROM {role}",
        "REVOKE DELETE ON trading_state FROM {role}",
    )


def downgrade() -> None:
    op.drop_table("trading_state")
    op.drop_index(op.f("ix_trading_events_at"), table_name="trading_events")
    op.drop_table("trading_events")
    op.drop_table("request_log")
    op.drop_table("paper_prices")
    op.drop_table("paper_positions")
    op.drop_index(
        "ix_paper_orders_open",
        table_name="paper_orders",
        postgresql_where=sa.text("status IN ('new', 'partially_filled')"),
    )
    op.drop_table("paper_orders")
    op.drop_table("paper_account")
    op.drop_index("ix_orders_symbol_created_at", table_name="orders")
    op.drop_index(
        "ix_orders_open", table_name="orders", postgresql_where=sa.text("status IN ('new', 'partially_filled')")
    )
    op.drop_index("ix_orders_created_at_id", table_name="orders")
    op.drop_table("orders")
    op.drop_table("api_tokens")

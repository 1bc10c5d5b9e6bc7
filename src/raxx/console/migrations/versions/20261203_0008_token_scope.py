"""Personal API tokens act only in the environments chosen when they were made.

``environments`` lists them; a request in any other environment is refused, whatever
roles the user holds there. Tokens made before this revision keep what they could do:
the environments their user held a role in at migration time (now written down, shown
on /tokens, and narrower than "every environment, including ones granted later").
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "c20261203_0008_token_scope"
down_revision = "c20261203_0007_flash"


def upgrade() -> None:
    op.add_column("console_api_token", sa.Column("environments", postgresql.ARRAY(sa.String(32)), nullable=True))
    op.execute(
        "UPDATE console_api_token t SET environments = coalesce("
        "(SELECT array_agg(r.environment ORDER BY r.environment) FROM console_user_role r"
        " WHERE r.user_id = t.user_id), '{}')"
    )
    op.alter_column("console_api_token", "environments", nullable=False)


def downgrade() -> None:
    op.drop_column("console_api_token", "environments")

"""The ledger's contracts with the console, as named, versioned views.

The console reads the release board and a deployment's health history, and writes release
requests, through these views only, never the tables: the gate may reshape its tables as
long as the views stay (``raxx.common.contracts.board``, ``.release_requests``, ``.health``).
A change the console would notice is a new view (``_v2``) beside these, never an edit of them.
"""

from alembic import op

from raxx.common.migration_ops import create_contract_view

revision = "l20261203_0006_contract_views"
down_revision = "l20261203_0005"

#: (view, its query, what the console may do with it, the comment naming its reader)
VIEWS = (
    (
        "release_board_v1",
        "SELECT generated_at, body FROM release_board WHERE id = 1",
        "SELECT",
        "Contract v1, owned by the release gate (ledger tree), read by the console (its /releases page):"
        " the release board of the gate (raxx.common.contracts.board.ReleaseBoard as JSON).",
    ),
    (
        "release_request_v1",
        "SELECT id, action, app, environment, release_id, actor, note, via, via_request_id, requested_at,"
        " status, code, detail, exit_code FROM release_request",
        "SELECT, INSERT",
        "Contract v1, owned by the release gate (ledger tree), used by the console: it inserts release"
        " requests (approve, promote, rollback) and reads their outcome; the request runner of the gate"
        " carries them out.",
    ),
    (
        "deployment_health_v1",
        "SELECT deployment, observed_at, ok, starting, latency_ms FROM health_sample",
        "SELECT",
        "Contract v1, owned by the release gate (ledger tree), read by the console (health history):"
        " the probes of the monitor.",
    ),
    (
        "deploy_history_v1",
        "SELECT app, environment, release_id, deployed_at, status FROM release",
        "SELECT",
        "Contract v1, owned by the release gate (ledger tree), read by the console (health history):"
        " every deploy recorded.",
    ),
    (
        "incident_history_v1",
        "SELECT app, opened_at, severity, title FROM incident",
        "SELECT",
        "Contract v1, owned by the release gate (ledger tree), read by the console (health history):"
        " every incident opened.",
    ),
)


def upgrade() -> None:
    for name, query, privileges, comment in VIEWS:
        create_contract_view(name, query, comment=comment, grant=privileges)


def downgrade() -> None:
    for name, *_ in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {name}")

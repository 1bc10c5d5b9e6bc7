"""The audit trail's contract with the release gate: ``audit_evidence_v1``, read-only.

The gate's retirement checklist counts finished actions (``env.switch``) from the
console's audit trail. It reads them through this view only, never ``audit_event``
(``raxx.common.contracts.audit.AUDIT_EVIDENCE_VIEW``): one row per outcome, with the
action, environment, outcome and time, nothing of the hash chain, actors or parameters.
A change the gate would notice is a new view (``_v2``) beside this one.
"""

from alembic import op

from raxx.common.migration_ops import create_contract_view

revision = "c20261203_0011_audit_evidence"
down_revision = "c20261203_0010_oidc"


#: One row per finished action; the comment names the reader.
QUERY = "SELECT action, environment, outcome, occurred_at FROM audit_event WHERE phase = 'outcome'"
COMMENT = (
    "Contract v1, owned by the console (its audit trail), read by the release gate (its retirement"
    " checklist): one row per finished action."
)


def upgrade() -> None:
    create_contract_view("audit_evidence_v1", QUERY, comment=COMMENT)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS audit_evidence_v1")

"""The ledger: releases, approvals, health samples, incidents, freezes, locks, decisions."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "l20261126_0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "approval",
        sa.Column("app", sa.String(length=40), nullable=False),
        sa.Column("environment", sa.String(length=40), nullable=False),
        sa.Column("release_id", sa.String(length=200), nullable=False),
        sa.Column("commit", sa.String(length=64), nullable=False),
        sa.Column("artifact_digest", sa.String(length=200), nullable=False),
        sa.Column("approved_by", sa.String(length=200), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("gate_state", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval")),
    )
    op.create_index("ix_approval_target", "approval", ["app", "environment", "release_id"], unique=False)
    op.create_table(
        "attestation",
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("item", sa.String(length=80), nullable=False),
        sa.Column("attested_by", sa.String(length=200), nullable=False),
        sa.Column("attested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attestation")),
    )
    op.create_index("ix_attestation_subject_item", "attestation", ["subject", "item"], unique=False)
    op.create_table(
        "deploy_lock",
        sa.Column("app", sa.String(length=40), nullable=False),
        sa.Column("environment", sa.String(length=40), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lock_key", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("app", "environment", name=op.f("pk_deploy_lock")),
    )
    op.create_table(
        "freeze",
        sa.Column("environment", sa.String(length=40), nullable=False),
        sa.Column("app", sa.String(length=40), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.String(length=200), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_freeze_window")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_freeze")),
    )
    op.create_index("ix_freeze_environment_ends", "freeze", ["environment", "ends_at"], unique=False)
    op.create_table(
        "health_sample",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("deployment", sa.String(length=80), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("release_seen", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_health_sample")),
    )
    op.create_index(
        "ix_health_sample_deployment_observed", "health_sample", ["deployment", "observed_at"], unique=False
    )
    op.create_table(
        "incident",
        sa.Column("app", sa.String(length=40), nullable=False),
        sa.Column("component", sa.String(length=80), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.String(length=200), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=200), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("severity IN ('critical', 'major', 'minor')", name=op.f("ck_incident_severity")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident")),
    )
    op.create_index("ix_incident_app_opened", "incident", ["app", "opened_at"], unique=False)
    op.create_table(
        "release",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("app", sa.String(length=40), nullable=False),
        sa.Column("environment", sa.String(length=40), nullable=False),
        sa.Column("release_id", sa.String(length=200), nullable=False),
        sa.Column("commit", sa.String(length=64), nullable=False),
        sa.Column("version_tag", sa.String(length=200), nullable=True),
        sa.Column("artifact_digest", sa.String(length=200), nullable=False),
        sa.Column("deployed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deployed_by", sa.String(length=200), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ran_migrations", sa.Boolean(), nullable=False),
        sa.Column("previous_release", sa.String(length=200), nullable=True),
        sa.Column("rollback_of", sa.Uuid(), nullable=True),
        sa.Column("break_glass_reason", sa.Text(), nullable=True),
        sa.Column("features", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "status IN ('deploying', 'succeeded', 'failed', 'rolled_back')", name=op.f("ck_release_status")
        ),
        sa.CheckConstraint(
            "trigger IN ('push', 'dispatch', 'tag', 'rollback', 'break_glass')", name=op.f("ck_release_trigger")
        ),
        sa.ForeignKeyConstraint(["rollback_of"], ["release.id"], name=op.f("fk_release_rollback_of_release")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_release")),
        sa.UniqueConstraint("seq", name=op.f("uq_release_seq")),
    )
    op.create_index("ix_release_app_env_deployed", "release", ["app", "environment", "deployed_at"], unique=False)
    op.create_index("ix_release_app_env_release", "release", ["app", "environment", "release_id"], unique=False)
    op.create_table(
        "retirement_decision",
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("items", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retirement_decision")),
    )
    op.create_index("ix_retirement_decision_subject", "retirement_decision", ["subject", "decided_at"], unique=False)

    op.create_table(
        "release_board",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_release_board_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_release_board")),
    )


def downgrade() -> None:
    op.drop_table("release_board")
    op.drop_index("ix_retirement_decision_subject", table_name="retirement_decision")
    op.drop_table("retirement_decision")
    op.drop_index("ix_release_app_env_release", table_name="release")
    op.drop_index("ix_release_app_env_deployed", table_name="release")
    op.drop_table("release")
    op.drop_index("ix_incident_app_opened", table_name="incident")
    op.drop_table("incident")
    op.drop_index("ix_health_sample_deployment_observed", table_name="health_sample")
    op.drop_table("health_sample")
    op.drop_index("ix_freeze_environment_ends", table_name="freeze")
    op.drop_table("freeze")
    op.drop_table("deploy_lock")
    op.drop_index("ix_attestation_subject_item", table_name="attestation")
    op.drop_table("attestation")
    op.drop_index("ix_approval_target", table_name="approval")
    op.drop_table("approval")

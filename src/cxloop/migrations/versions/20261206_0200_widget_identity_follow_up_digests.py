"""widget identity verification and follow-up digests

workspaces.identity_secret_version: the rotation counter the survey widget's identity secret is
derived from (the secret itself is never stored). follow_up_digests: one notice per burst of new
follow-ups of a survey and team, an index to count a team's recent follow-ups, and
follow_ups.overdue_told_at (told alone or in a team's overdue digest).

Revision ID: 3d8b6f2a9c41
Revises: 4b9e2d7a6c15
Create Date: 2026-12-06 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3d8b6f2a9c41"
down_revision: str | None = "4b9e2d7a6c15"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("identity_secret_version", sa.Integer(), server_default="0", nullable=False)
        )

    op.create_table(
        "follow_up_digests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("team", sa.String(length=64), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["surveys.id"],
            name=op.f("fk_follow_up_digests_survey_id_surveys"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_follow_up_digests_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_up_digests")),
    )
    with op.batch_alter_table("follow_up_digests", schema=None) as batch_op:
        batch_op.create_index("ix_follow_up_digests_due", ["sent_at", "closes_at"], unique=False)
        batch_op.create_index(
            "ix_follow_up_digests_open",
            ["workspace_id", "survey_id", "team", "closes_at"],
            unique=False,
        )

    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("overdue_told_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_follow_ups_workspace_team_created",
            ["workspace_id", "team", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.drop_index("ix_follow_ups_workspace_team_created")
        batch_op.drop_column("overdue_told_at")

    with op.batch_alter_table("follow_up_digests", schema=None) as batch_op:
        batch_op.drop_index("ix_follow_up_digests_open")
        batch_op.drop_index("ix_follow_up_digests_due")

    op.drop_table("follow_up_digests")

    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_column("identity_secret_version")

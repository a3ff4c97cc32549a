"""indexes: one covering index for the CX dashboard's scans of survey_responses, one response
per survey and external id, notifications by key

Revision ID: 6074cd822013
Revises: 9a3e5c1d7b20
Create Date: 2026-11-29 14:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "6074cd822013"
down_revision: str | None = "9a3e5c1d7b20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = [
    "workspace_id",
    "submitted_at",
    "completed",
    "survey_id",
    "nps",
    "csat",
    "ces",
    "touchpoint",
    "channel",
    "customer_id",
]


def upgrade() -> None:
    with op.batch_alter_table("survey_responses", schema=None) as batch_op:
        batch_op.create_index("ix_survey_responses_dashboard", COLUMNS, unique=False)
        batch_op.create_unique_constraint(
            op.f("uq_survey_responses_survey_id_external_id"), ["survey_id", "external_id"]
        )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notifications_workspace_dedupe", ["workspace_id", "dedupe_key"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_workspace_dedupe")
    with op.batch_alter_table("survey_responses", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_survey_responses_survey_id_external_id"), type_="unique")
        batch_op.drop_index("ix_survey_responses_dashboard")

"""member_invitations; users.session_version and last_workspace_id; memberships.last_active_at

Members join by an invitation they accept (its token kept only as a SHA-256); a web session
carries the user's session version, so signing out, a new password or "sign out everywhere"
ends it on the server; sign-in lands in the workspace last used; a members list shows the
member's activity in that workspace only.

Revision ID: 4b9e2d7a6c15
Revises: 7c4e2a9d1f03
Create Date: 2026-12-06 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4b9e2d7a6c15"
down_revision: str | None = "7c4e2a9d1f03"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "member_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("invited_by_id", sa.Integer(), nullable=True),
        sa.Column("invited_by_label", sa.String(length=320), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_count", sa.Integer(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_user_id", sa.Integer(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["accepted_user_id"],
            ["users.id"],
            name=op.f("fk_member_invitations_accepted_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["invited_by_id"],
            ["users.id"],
            name=op.f("fk_member_invitations_invited_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_member_invitations_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_member_invitations_token_hash")),
    )
    with op.batch_alter_table("member_invitations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_member_invitations_workspace_email", ["workspace_id", "email"], unique=False
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_version", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("last_workspace_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_users_last_workspace_id_workspaces"),
            "workspaces",
            ["last_workspace_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_active_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_column("last_active_at")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_users_last_workspace_id_workspaces"), type_="foreignkey"
        )
        batch_op.drop_column("last_workspace_id")
        batch_op.drop_column("session_version")
    with op.batch_alter_table("member_invitations", schema=None) as batch_op:
        batch_op.drop_index("ix_member_invitations_workspace_email")
    op.drop_table("member_invitations")

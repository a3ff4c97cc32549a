"""care conversation contact

conversations.contact: where a reply reaches the customer on the conversation's channel
(email address, phone number, TalkTalk user, chat visitor); existing email conversations get
their customer's address.

Revision ID: fba220d16ced
Revises: 1adacb4689cf
Create Date: 2026-12-06 06:32:11.384439
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "fba220d16ced"
down_revision: str | None = "1adacb4689cf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("contact", sa.String(length=320), server_default="", nullable=False)
        )
    op.execute(
        "UPDATE conversations SET contact = COALESCE((SELECT customers.email FROM customers "
        "WHERE customers.id = conversations.customer_id), '') WHERE channel = 'email'"
    )


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("contact")

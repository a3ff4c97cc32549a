"""care reply lookup index

conversation_messages.outbound_message_id is indexed: an answer to one of cxloop's replies is
threaded by the id its provider gave the reply, found without scanning the messages.

Revision ID: 22ebfc9112cd
Revises: a0e2e2c62d8e
Create Date: 2026-12-06 08:01:17.977498
"""

from collections.abc import Sequence

from alembic import op

revision: str = "22ebfc9112cd"
down_revision: str | None = "a0e2e2c62d8e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversation_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversation_messages_outbound", ["outbound_message_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("conversation_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_messages_outbound")

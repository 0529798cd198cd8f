"""a counsellor's own chat cap

How many chats a counsellor or supervisor holds at once, when it is not the service's
TSUNAGU_CHAT_CAP (`tsunagu users chat-cap NAME N`). Empty for everyone until set.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from alembic import op
import sqlalchemy as sa


revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chat_cap", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_user", schema=None) as batch_op:
        batch_op.drop_column("chat_cap")

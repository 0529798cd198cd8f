"""one callback request per call

A consent that arrived twice (Twilio retries a webhook; a signed request can be sent again)
booked a second callback, and the person was called several times at once. A request now keeps
the keyed reference of the call that asked, unique, so the database books one per call. Requests
booked before keep no reference (NULL, which a unique index allows any number of).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from alembic import op
import sqlalchemy as sa


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("callback_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("call_ref", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_callback_request_call_ref"), ["call_ref"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("callback_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_callback_request_call_ref"))
        batch_op.drop_column("call_ref")

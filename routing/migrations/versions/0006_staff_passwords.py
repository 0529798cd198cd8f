"""staff passwords

A nullable argon2id password hash per staff account: staff without one sign in to nothing but
the API (with their token).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('password_hash', sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.drop_column('password_hash')

"""indexes for the dashboard's lists

The case list (an organisation's newest cases) and the referral inbox and outbox (newest first)
were read through single-column indexes and then sorted whole: every request cost time in
proportion to all the cases an organisation ever held. Composite indexes give the newest rows in
order, so a list costs the same on the first day and after a year.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('case_file', schema=None) as batch_op:
        batch_op.create_index('ix_case_file_holder_org_updated_at', ['holder_org', 'updated_at'], unique=False)
        batch_op.drop_index('ix_case_file_holder_org')
    with op.batch_alter_table('referral', schema=None) as batch_op:
        batch_op.create_index('ix_referral_to_org_created_at', ['to_org', 'created_at'], unique=False)
        batch_op.create_index('ix_referral_from_org_created_at', ['from_org', 'created_at'], unique=False)
        batch_op.drop_index('ix_referral_to_org')
        batch_op.drop_index('ix_referral_from_org')


def downgrade() -> None:
    with op.batch_alter_table('referral', schema=None) as batch_op:
        batch_op.create_index('ix_referral_from_org', ['from_org'], unique=False)
        batch_op.create_index('ix_referral_to_org', ['to_org'], unique=False)
        batch_op.drop_index('ix_referral_from_org_created_at')
        batch_op.drop_index('ix_referral_to_org_created_at')
    with op.batch_alter_table('case_file', schema=None) as batch_op:
        batch_op.create_index('ix_case_file_holder_org', ['holder_org'], unique=False)
        batch_op.drop_index('ix_case_file_holder_org_updated_at')

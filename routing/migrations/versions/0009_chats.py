"""chats: SNS consultations on LINE and the web

A chat is a contact on the SNS channel: its intake, its band and where it waits in clear; the
person only as a keyed pseudonym and (LINE) a sealed user id; every message sealed. Templates
(定型文) and the editable crisis and elevated word lists are kept beside them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('chat_template',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('org_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('body', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('chat_template', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_chat_template_org_id'), ['org_id'], unique=False)

    op.create_table('chat_word_list',
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('words', sa.JSON(), nullable=False),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('kind')
    )
    op.create_table('chat',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('medium', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('band', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('intake', sa.JSON(), nullable=False),
    sa.Column('topic', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('prefecture', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True),
    sa.Column('lgcode', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=True),
    sa.Column('age_band', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('service_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('org_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('counsellor', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('case_id', sqlmodel.sql.sqltypes.AutoString(length=9), nullable=True),
    sa.Column('tried', sa.JSON(), nullable=False),
    sa.Column('buttons', sa.JSON(), nullable=False),
    sa.Column('opened_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('arrived_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('window_since', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('first_reply_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('assigned_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('first_human_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('last_person_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('last_staff_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('idle_warned_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('closed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('close_reason', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True),
    sa.Column('shared_from', sa.Integer(), nullable=False),
    sa.Column('messages', sa.Integer(), nullable=False),
    sa.Column('blocked', sa.Boolean(), nullable=False),
    sa.Column('person_ref', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
    sa.Column('address_sealed', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('purged_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('chat', schema=None) as batch_op:
        batch_op.create_index('ix_chat_person_status', ['person_ref', 'status'], unique=False)
        batch_op.create_index('ix_chat_service_status', ['service_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_chat_status'), ['status'], unique=False)

    op.create_table('chat_message',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('chat_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('sender', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('staff_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('body_sealed', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('event_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('delivery', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=True),
    sa.Column('retry_key', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['chat_id'], ['chat.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('chat_id', 'seq', name='uq_chat_message_chat_seq'),
    sa.UniqueConstraint('event_id')
    )
    with op.batch_alter_table('chat_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_chat_message_chat_id'), ['chat_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('chat_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chat_message_chat_id'))

    op.drop_table('chat_message')
    with op.batch_alter_table('chat', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chat_status'))
        batch_op.drop_index('ix_chat_service_status')
        batch_op.drop_index('ix_chat_person_status')

    op.drop_table('chat')
    op.drop_table('chat_word_list')
    with op.batch_alter_table('chat_template', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chat_template_org_id'))

    op.drop_table('chat_template')

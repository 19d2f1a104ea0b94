"""events: analytics events from the viewers (type, pseudonymous session, merchant, product SKU, props,
client timestamp, time received)

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
    op.create_table('events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('merchant_id', sa.String(length=32), nullable=False),
    sa.Column('sku', sa.String(length=100), nullable=True),
    sa.Column('session', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('props', sa.JSON(), nullable=False),
    sa.Column('client_ts', sa.Float(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_merchant', ['merchant_id', 'id'], unique=False)
        batch_op.create_index('ix_events_merchant_type', ['merchant_id', 'type', 'id'], unique=False)
        batch_op.create_index('ix_events_merchant_sku', ['merchant_id', 'sku', 'id'], unique=False)
        batch_op.create_index('ix_events_merchant_session', ['merchant_id', 'session', 'id'], unique=False)


def downgrade() -> None:
    op.drop_table('events')

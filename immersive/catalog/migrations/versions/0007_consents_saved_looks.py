"""consents and saved_looks: a pseudonymous session's consent records (purposes, notice version, given and
withdrawn) and the try-on images it chose to keep (only the composited image, with an expiry)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('consents',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('session', sa.String(length=64), nullable=False),
    sa.Column('purposes', sa.JSON(), nullable=False),
    sa.Column('notice_version', sa.String(length=40), nullable=False),
    sa.Column('given_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index('ix_consents_session', ['session', 'given_at'], unique=False)

    op.create_table('saved_looks',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('session', sa.String(length=64), nullable=False),
    sa.Column('consent_id', sa.String(length=32), nullable=False),
    sa.Column('merchant_id', sa.String(length=32), nullable=False),
    sa.Column('sku', sa.String(length=100), nullable=False),
    sa.Column('variant', sa.String(length=200), nullable=True),
    sa.Column('storage_key', sa.String(length=300), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('bytes', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['consent_id'], ['consents.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('saved_looks', schema=None) as batch_op:
        batch_op.create_index('ix_saved_looks_session', ['session'], unique=False)
        batch_op.create_index('ix_saved_looks_expires', ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_saved_looks_consent_id'), ['consent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_saved_looks_merchant_id'), ['merchant_id'], unique=False)


def downgrade() -> None:
    op.drop_table('saved_looks')
    op.drop_table('consents')

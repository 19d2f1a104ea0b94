"""pipeline_stage_stats: stage duration histogram buckets shared by all worker processes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pipeline_stage_stats',
    sa.Column('stage', sa.String(length=40), nullable=False),
    sa.Column('bucket', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('stage', 'bucket')
    )


def downgrade() -> None:
    op.drop_table('pipeline_stage_stats')

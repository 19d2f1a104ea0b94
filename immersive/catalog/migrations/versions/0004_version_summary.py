"""asset_versions.summary: the few metadata/report fields listings show (placement, size, LODs, variants,
anchor, triangles, target results), so lists do not load and parse each bundle's full documents

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

import json

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def summarize(metadata: dict, report: dict) -> dict:
    # Frozen copy of immersive.catalog.assets.summarize as of this revision (migrations do not import app code).
    return {
        "placement": metadata.get("placement", "table"),
        "dimensions_m": metadata.get("dimensions_m"),
        "variants": metadata.get("variants", []),
        "lods": [{k: lod.get(k) for k in ("level", "file", "triangles", "bytes")} for lod in metadata.get("lods", [])],
        "anchor": metadata.get("anchor"),
        "triangles": (metadata.get("geometry") or {}).get("triangles"),
        "targets": [{"target": t["target"], "passed": t["passed"]} for t in report.get("targets", [])],
    }


def upgrade() -> None:
    with op.batch_alter_table('asset_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('summary', sa.JSON(), nullable=True))
    connection = op.get_bind()
    versions = sa.table('asset_versions', sa.column('id', sa.String), sa.column('metadata', sa.JSON),
                        sa.column('report', sa.JSON), sa.column('summary', sa.JSON))
    for row in connection.execute(sa.select(versions.c.id, versions.c.metadata, versions.c.report)).all():
        metadata = row.metadata if isinstance(row.metadata, dict) else json.loads(row.metadata)
        report = row.report if isinstance(row.report, dict) else json.loads(row.report)
        connection.execute(versions.update().where(versions.c.id == row.id).values(summary=summarize(metadata, report)))
    with op.batch_alter_table('asset_versions', schema=None) as batch_op:
        batch_op.alter_column('summary', existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('asset_versions', schema=None) as batch_op:
        batch_op.drop_column('summary')

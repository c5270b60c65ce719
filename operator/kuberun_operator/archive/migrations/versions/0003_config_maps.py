"""The ConfigMaps an Experiment's spec points at (large configs, code chunks), content stored once by digest.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archive_config_maps",
        sa.Column("uid", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(253), primary_key=True),
        sa.Column("document", sa.JSON(), nullable=False, comment="name, labels, annotations; each key's sha256"),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "archive_blobs",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("archive_blobs")
    op.drop_table("archive_config_maps")

"""The first archive schema: experiments, their labels, metric points, log and artifact locations.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archive_experiments",
        sa.Column("uid", sa.String(128), primary_key=True),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("api_version", sa.String(253), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("title_key", sa.Text(), nullable=False, comment="casefolded title, for case-insensitive search"),
        sa.Column("submitter", sa.Text(), nullable=True),
        sa.Column("phase", sa.String(32), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("finished", sa.DateTime(), nullable=True),
        sa.Column("deleted", sa.DateTime(), nullable=True),
        sa.Column("archived_at", sa.DateTime(), nullable=False),
        sa.Column("reproduced_from_uid", sa.String(128), nullable=True),
        sa.Column("reproduced_from_name", sa.String(253), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("status", sa.JSON(), nullable=True),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("events_dropped", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_archive_experiments_created_uid", "archive_experiments", ["created", "uid"])
    op.create_index("ix_archive_experiments_namespace_created_uid", "archive_experiments",
                    ["namespace", "created", "uid"])
    op.create_index("ix_archive_experiments_namespace_name_created", "archive_experiments",
                    ["namespace", "name", "created"])
    op.create_index("ix_archive_experiments_submitter_created", "archive_experiments", ["submitter", "created"])
    op.create_index("ix_archive_experiments_phase_created", "archive_experiments", ["phase", "created"])
    op.create_index("ix_archive_experiments_reproduced_from_uid", "archive_experiments", ["reproduced_from_uid"])

    op.create_table(
        "archive_labels",
        sa.Column("uid", sa.String(128), sa.ForeignKey("archive_experiments.uid", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("key", sa.String(317), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_index("ix_archive_labels_key_value", "archive_labels", ["key", "value"])

    op.create_table(
        "archive_metrics",
        sa.Column("uid", sa.String(128), primary_key=True),
        sa.Column("task", sa.String(253), primary_key=True),
        sa.Column("attempt", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(253), primary_key=True),
        sa.Column("step", sa.BigInteger(), primary_key=True),
        sa.Column("value", sa.Float(precision=53), nullable=True, comment="NULL stands for NaN"),
        sa.Column("time", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_archive_metrics_uid_name", "archive_metrics", ["uid", "name"])

    op.create_table(
        "archive_locations",
        sa.Column("uid", sa.String(128), primary_key=True),
        sa.Column("task", sa.String(253), primary_key=True),
        sa.Column("attempt", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("url", sa.String(2048), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("archive_locations")
    op.drop_index("ix_archive_metrics_uid_name", table_name="archive_metrics")
    op.drop_table("archive_metrics")
    op.drop_index("ix_archive_labels_key_value", table_name="archive_labels")
    op.drop_table("archive_labels")
    for index in ("reproduced_from_uid", "phase_created", "submitter_created", "namespace_name_created",
                  "namespace_created_uid", "created_uid"):
        op.drop_index(f"ix_archive_experiments_{index}", table_name="archive_experiments")
    op.drop_table("archive_experiments")

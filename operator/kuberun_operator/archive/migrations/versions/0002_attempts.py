"""Attempts as rows of their own: the history the status budget drops from the object.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archive_attempts",
        sa.Column("uid", sa.String(128), primary_key=True),
        sa.Column("task", sa.String(253), primary_key=True),
        sa.Column("attempt", sa.Integer(), primary_key=True),
        sa.Column("phase", sa.String(32), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(128), nullable=True),
        sa.Column("start_time", sa.DateTime(), nullable=True),
        sa.Column("finish_time", sa.DateTime(), nullable=True),
        sa.Column("document", sa.JSON(), nullable=False, comment="the attempt's status entry as written"),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("archive_attempts")

"""Initial job table, as ``JobStore`` created it before migrations existed.

Revision ID: 0001
Revises:
Create Date: 2026-03-01

Written out column by column rather than imported from the store, so later changes to
the live metadata cannot rewrite history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _name() -> str:
    return f"{context.config.attributes.get('table_prefix', '')}jobs"


def upgrade() -> None:
    name = _name()
    op.create_table(
        name,
        sa.Column("id", sa.String(24), primary_key=True),
        sa.Column("gen_id", sa.String(20), nullable=False, unique=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("spec", sa.LargeBinary, nullable=False),
        sa.Column("prompt_verdict", sa.LargeBinary, nullable=False),
        sa.Column("image_verdict", sa.LargeBinary, nullable=False),
        sa.Column("result", sa.LargeBinary, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("compliance", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("total_steps", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(f"ix_{name}_queue", name, ["state", "created_at", "id"])
    op.create_index(f"ix_{name}_lease", name, ["state", "lease_expires_at"])


def downgrade() -> None:
    name = _name()
    op.drop_index(f"ix_{name}_lease", table_name=name)
    op.drop_index(f"ix_{name}_queue", table_name=name)
    op.drop_table(name)

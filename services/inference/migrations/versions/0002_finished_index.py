"""Index ended jobs by finish time, for the retention sweep.

Revision ID: 0002
Revises: 0001
Create Date: 2026-03-02
"""

from __future__ import annotations

from alembic import context, op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _name() -> str:
    return f"{context.config.attributes.get('table_prefix', '')}jobs"


def upgrade() -> None:
    name = _name()
    op.create_index(f"ix_{name}_finished", name, ["finished_at"])


def downgrade() -> None:
    name = _name()
    op.drop_index(f"ix_{name}_finished", table_name=name)

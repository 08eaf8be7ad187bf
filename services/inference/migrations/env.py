"""Alembic environment: runs on the connection :mod:`services.inference.migrate` hands over.

The job table's name carries the deployment's ``table_prefix``, and so does Alembic's
version table, so several deployments (and parallel tests) share one database without
seeing each other's schema. On PostgreSQL a transaction-scoped advisory lock makes
concurrent upgrades (several replicas starting at once) run one after another; SQLite
gets the same from ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import zlib

from alembic import context
from sqlalchemy import text

config = context.config
connection = config.attributes["connection"]
prefix: str = config.attributes.get("table_prefix", "")

if connection.dialect.name == "postgresql":
    lock_id = zlib.crc32(f"imgen-inference-migrate:{prefix}".encode())
    connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})

context.configure(
    connection=connection,
    version_table=f"{prefix}alembic_version",
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()

"""Bring the job store's schema to the newest revision: ``python -m services.inference.migrate``.

The Helm chart runs this as a pre-upgrade Job, and the service runs it at startup
(``migrate_on_start``), so a fresh database and an old one both end at the schema the
code expects. Upgrading is idempotent and safe to run from several processes at once
(see ``migrations/env.py``). A database created by ``create_all`` before migrations
existed has the table but no version row; it is stamped at the initial revision, which
is that exact schema, and upgraded from there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from services.inference.jobs.store import JobStore
from services.shared.logging import get_logger

log = get_logger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
INITIAL_REVISION = "0001"


def alembic_config(table_prefix: str = "") -> Config:
    """An Alembic config for the inference migrations (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["table_prefix"] = table_prefix
    return config


def head_revision() -> str:
    """The newest revision in ``migrations/versions``."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head


def current_revision(store: JobStore, table_prefix: str = "") -> str | None:
    """The revision the store's database is at (None: never migrated)."""
    with store.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": f"{table_prefix}alembic_version"}
        )
        return context.get_current_revision()


def upgrade(store: JobStore, table_prefix: str = "", revision: str = "head") -> str | None:
    """Migrate the store's database to ``revision``; returns the revision it ends at."""
    config = alembic_config(table_prefix)
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        tables = set(inspect(connection).get_table_names())
        if f"{table_prefix}jobs" in tables and f"{table_prefix}alembic_version" not in tables:
            log.info("stamping a pre-migration job table", revision=INITIAL_REVISION)
            command.stamp(config, INITIAL_REVISION)
        command.upgrade(config, revision)
    return current_revision(store, table_prefix)


def main(argv: list[str] | None = None) -> int:
    """CLI: upgrade the database named by ``--database-url`` or the inference settings."""
    from services.inference.main import Settings

    parser = argparse.ArgumentParser(prog="python -m services.inference.migrate", description=__doc__)
    parser.add_argument("--database-url", default="", help="SQLAlchemy URL; default: the settings' store")
    parser.add_argument("--table-prefix", default=None, help="default: the settings' table_prefix")
    parser.add_argument("--revision", default="head", help="target revision (default: head)")
    args = parser.parse_args(argv)
    settings = Settings()
    url = args.database_url or settings.store_url()
    prefix = settings.table_prefix if args.table_prefix is None else args.table_prefix
    store = JobStore(url, table_prefix=prefix)
    try:
        revision = upgrade(store, prefix, args.revision)
    finally:
        store.close()
    print(f"job store at revision {revision}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

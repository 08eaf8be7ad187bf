"""Alembic migrations of the job store; run through :mod:`services.inference.migrate`."""

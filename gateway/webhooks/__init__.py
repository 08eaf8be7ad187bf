"""Completion webhooks: signed, retried, persisted, and restricted to public addresses by default."""

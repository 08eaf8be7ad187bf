"""Durable jobs: identifiers, the state machine, and the store that persists them."""

"""``imgen keys create|list|enable|disable|rotate|delete``: key administration from a shell.

The plaintext of a new (or rotated) key is printed exactly once; listings show only the
id and the short prefix. Changes bump the store's revision, so running gateways refuse a
disabled, rotated or deleted key within a second.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.admin.panel import parse_expiry
from gateway.keys import ApiKeyRecord, KeyStore
from gateway.main import Settings


def _store(args: argparse.Namespace) -> KeyStore:
    overrides: dict[str, object] = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = Path(args.data_dir).expanduser().resolve()
    return KeyStore(Settings(**overrides).resolved_database_url())  # type: ignore[arg-type]


def _row(record: ApiKeyRecord) -> str:
    used = record.last_used_at.strftime("%Y-%m-%d %H:%M:%S") if record.last_used_at else "never"
    expires = record.expires_at.strftime("%Y-%m-%d %H:%M") if record.expires_at else "-"
    limit = str(record.rate_limit_per_minute or "default")
    return (
        f"{record.id}  {record.prefix}…  {record.status():8}  {record.request_count:>8}  {used:19}  "
        f"{expires:16}  {limit:>7}  {record.name}"
    )


def run_keys_command(args: argparse.Namespace) -> int:
    """Run one ``imgen keys`` subcommand; returns the process exit code."""
    store = _store(args)
    try:
        command = args.keys_command
        if command == "create":
            record, plaintext = store.create(
                args.name,
                expires_at=parse_expiry(args.expires or ""),
                rate_limit_per_minute=args.rate_limit,
            )
            print(f"created {record.id} ({record.name})")
            print(f"API key (shown once, store it now): {plaintext}")
            return 0
        if command == "list":
            print(
                "id                    prefix         state      requests  last used            "
                "expires           limit/m  name"
            )
            for record in store.list():
                print(_row(record))
            return 0
        if command in ("enable", "disable"):
            changed = store.set_enabled(args.key_id, command == "enable")
            if changed is None:
                print(f"error: no key with id or prefix {args.key_id!r}", file=sys.stderr)
                return 1
            print(_row(changed))
            return 0
        if command == "rotate":
            rotated = store.rotate(args.key_id)
            if rotated is None:
                print(f"error: no key with id or prefix {args.key_id!r}", file=sys.stderr)
                return 1
            record, plaintext = rotated
            print(f"rotated {record.id} ({record.name}); the old secret no longer works")
            print(f"API key (shown once, store it now): {plaintext}")
            return 0
        if command == "delete":
            if not store.delete(args.key_id):
                print(f"error: no key with id or prefix {args.key_id!r}", file=sys.stderr)
                return 1
            print(f"deleted {args.key_id}")
            return 0
        print(f"error: unknown keys command {command!r}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()

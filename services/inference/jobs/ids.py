"""Job and generation identifiers (format fixed by docs/conventions.md).

Ids come from ``secrets`` so they cannot be guessed: a job id is the only thing a
client needs to poll a job, and its files' URLs carry the generation id.
"""

from __future__ import annotations

import re
import secrets

ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
ID_BODY_LENGTH = 20
JOB_ID_PREFIX = "run_"
JOB_ID_PATTERN = re.compile(rf"^{JOB_ID_PREFIX}[a-z0-9]{{{ID_BODY_LENGTH}}}$")
GEN_ID_PATTERN = re.compile(rf"^[a-z0-9]{{{ID_BODY_LENGTH}}}$")


def _random_body() -> str:
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_BODY_LENGTH))


def new_job_id() -> str:
    """A fresh job id: ``run_`` and 20 characters of ``[a-z0-9]``."""
    return JOB_ID_PREFIX + _random_body()


def new_gen_id() -> str:
    """A fresh generation id: 20 characters of ``[a-z0-9]``."""
    return _random_body()


def is_job_id(value: str) -> bool:
    """Whether ``value`` has the job id format (says nothing about existence)."""
    return bool(JOB_ID_PATTERN.fullmatch(value))


def is_gen_id(value: str) -> bool:
    """Whether ``value`` has the generation id format."""
    return bool(GEN_ID_PATTERN.fullmatch(value))

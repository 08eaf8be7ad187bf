"""Key and prefix rules: what may name an object, and that nothing escapes the store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.shared.errors import InvalidArgument
from services.storage.keys import MAX_KEY_LENGTH, validate_key, validate_prefix
from services.storage.local import LocalObjectStore

UNSAFE_KEYS = [
    "",
    "../x",
    "/etc/passwd",
    "a/../../b",
    "a/./b",
    "a\\b",
    "..",
    ".",
    "a//b",
    "a/",
    "/",
    ".hidden",
    "a/.meta.json",
    "a b",
    "a\x00b",
    "a\nb",
    "é.jpg",
    "a/b?c",
    "x" * (MAX_KEY_LENGTH + 1),
    "a/" + "y" * 201,
]


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_unsafe_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidArgument):
        validate_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "images/2026/11/23/abcdefghij0123456789/abcdefghij0123456789_ff00_00001.jpg",
        "a",
        "a.b-c_d/e..f",
        "A/b-",
    ],
)
def test_safe_keys_pass(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize("prefix", ["images/", "images/2026/11/2", "images", "a/b/c/"])
def test_prefixes_may_end_partially(prefix: str) -> None:
    assert validate_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["", "/", "../", "a/../", "a//", "/etc", "a\\", ".x", "a/.b", "a/b c"])
def test_unsafe_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(InvalidArgument):
        validate_prefix(prefix)


@given(st.text(alphabet="ab./\\-_\x00 é", max_size=30))
def test_any_accepted_key_stays_inside_the_store(tmp_path_factory: pytest.TempPathFactory, key: str) -> None:
    """Whatever the key, an accepted one maps to a path strictly under the root."""
    root = Path(os.path.realpath(tmp_path_factory.getbasetemp())) / "objects"
    store = LocalObjectStore(root, b"k" * 32, "http://x")
    try:
        validate_key(key)
    except InvalidArgument:
        return
    path = Path(os.path.realpath(store.root.joinpath(*key.split("/"))))
    assert path.is_relative_to(store.root) and path != store.root

"""The contract every object store keeps, run against the local backend and real S3."""

from __future__ import annotations

import hashlib
import os

import pytest

from services.shared.errors import InvalidArgument

from .harness import Harness
from .test_keys import UNSAFE_KEYS

KEY = "images/2026/11/23/abcdefghij0123456789/abcdefghij0123456789_00ff_00001.jpg"


def test_put_presign_fetch_round_trip(harness: Harness) -> None:
    data = os.urandom(150_000)
    stored = harness.store.put(KEY, data, "image/jpeg", "private, max-age=60")
    assert (stored.key, stored.size, stored.sha256) == (KEY, len(data), hashlib.sha256(data).hexdigest())

    signed = harness.store.presign(KEY, 600)
    fetched = harness.fetch(signed.url)
    assert fetched.status == 200
    assert fetched.body == data
    assert fetched.content_type == "image/jpeg"
    assert fetched.cache_control == "private, max-age=60"
    assert signed.key == KEY
    assert abs(signed.expires_at - (harness_now(harness) + 600)) <= 2


def test_put_replaces_the_previous_object(harness: Harness) -> None:
    harness.store.put(KEY, b"first", "text/plain", "")
    harness.store.put(KEY, b"second version", "image/png", "no-store")
    fetched = harness.fetch(harness.store.presign(KEY, 60).url)
    assert (fetched.body, fetched.content_type, fetched.cache_control) == (
        b"second version",
        "image/png",
        "no-store",
    )


def test_empty_object(harness: Harness) -> None:
    harness.store.put("empty/object.bin", b"", "application/octet-stream", "")
    fetched = harness.fetch(harness.store.presign("empty/object.bin", 60).url)
    assert (fetched.status, fetched.body) == (200, b"")


def test_expired_url_is_refused(harness: Harness) -> None:
    harness.store.put(KEY, b"data", "image/jpeg", "")
    signed = harness.store.presign(KEY, 1)
    harness.advance(2.2)
    assert harness.fetch(signed.url).status == 403


@pytest.mark.parametrize("part", ["signature", "expiry"])
def test_tampered_url_is_refused(harness: Harness, part: str) -> None:
    harness.store.put(KEY, b"data", "image/jpeg", "")
    url = harness.store.presign(KEY, 600).url
    param = harness.signature_param if part == "signature" else harness.expiry_param
    assert harness.fetch(harness.tamper_param(url, param)).status == 403


def test_url_for_one_key_does_not_open_another(harness: Harness) -> None:
    harness.store.put("a/one.jpg", b"one", "image/jpeg", "")
    harness.store.put("a/two.jpg", b"two", "image/jpeg", "")
    url = harness.store.presign("a/one.jpg", 600).url
    assert harness.fetch(harness.swap_key(url, "a/one.jpg", "a/two.jpg")).status == 403


def test_signed_url_for_missing_object_is_not_found(harness: Harness) -> None:
    url = harness.store.presign("never/written.jpg", 600).url
    assert harness.fetch(url).status == 404


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_unsafe_keys_are_refused_by_every_operation(harness: Harness, key: str) -> None:
    with pytest.raises(InvalidArgument):
        harness.store.put(key, b"x", "text/plain", "")
    with pytest.raises(InvalidArgument):
        harness.store.presign(key, 60)
    with pytest.raises(InvalidArgument):
        harness.store.delete([key])


def test_delete_by_key(harness: Harness) -> None:
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        harness.store.put(f"d/{name}", name.encode(), "image/jpeg", "")
    assert harness.store.delete(["d/a.jpg", "d/b.jpg", "d/missing.jpg"]) == 2
    assert harness.fetch(harness.store.presign("d/a.jpg", 60).url).status == 404
    assert harness.fetch(harness.store.presign("d/c.jpg", 60).url).body == b"c.jpg"
    assert harness.store.delete(["d/a.jpg"]) == 0


def test_delete_with_an_unsafe_key_deletes_nothing(harness: Harness) -> None:
    harness.store.put("keep/me.jpg", b"x", "image/jpeg", "")
    with pytest.raises(InvalidArgument):
        harness.store.delete(["keep/me.jpg", "../etc/passwd"])
    assert harness.fetch(harness.store.presign("keep/me.jpg", 60).url).status == 200


def test_delete_by_prefix_matches_like_s3(harness: Harness) -> None:
    keys = [
        "p/2026/gen1/a.jpg",
        "p/2026/gen1/b.jpg",
        "p/2026/gen10/a.jpg",
        "p/2026/gen2/a.jpg",
        "q/gen1/a.jpg",
    ]
    for key in keys:
        harness.store.put(key, key.encode(), "image/jpeg", "")
    assert harness.store.delete_prefix("p/2026/gen1/") == 2
    assert harness.store.delete_prefix("p/2026/gen1") == 1  # a string prefix: gen10 too
    assert harness.store.delete_prefix("nothing/here/") == 0
    survivors = [k for k in keys if harness.fetch(harness.store.presign(k, 60).url).status == 200]
    assert survivors == ["p/2026/gen2/a.jpg", "q/gen1/a.jpg"]


@pytest.mark.parametrize("prefix", ["", "../", "/etc", "a/../"])
def test_unsafe_prefix_is_refused(harness: Harness, prefix: str) -> None:
    with pytest.raises(InvalidArgument):
        harness.store.delete_prefix(prefix)


def harness_now(harness: Harness) -> float:
    import time

    return getattr(harness, "now", time.time())

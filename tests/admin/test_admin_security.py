"""Security of the panel over plain HTTP: sign-in required, CSRF, cookie flags, throttling, no leaked keys.

Also the same key operations over gRPC (KeysService) and the CLI.
"""

from __future__ import annotations

import re
from pathlib import Path

import grpc
import httpx
import pytest

from gateway.admin.password import hash_password, verify_password
from gateway.admin.sessions import COOKIE_NAME
from imgen.cli import main as imgen_main
from imgen.gateway.v1 import keys_pb2, keys_pb2_grpc

from .conftest import ADMIN_PASSWORD, LiveGateway

PAGES = ["/admin/", "/admin/keys", "/admin/jobs", "/admin/playground", "/admin/usage", "/admin/jobs/run_x"]


def signed_in_client(base: str) -> tuple[httpx.Client, str]:
    """A client with an admin session, and the session's CSRF token."""
    client = httpx.Client(base_url=base, timeout=10)
    form = client.get("/admin/login")
    login_csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    reply = client.post("/admin/login", data={"csrf": login_csrf, "password": ADMIN_PASSWORD})
    assert reply.status_code == 303
    keys_page = client.get("/admin/keys")
    return client, re.search(r'name="csrf" value="([^"]+)"', keys_page.text).group(1)


def test_nothing_is_reachable_without_signing_in(live_gateway: LiveGateway) -> None:
    with httpx.Client(base_url=live_gateway.base_url, timeout=10) as client:
        for path in PAGES:
            reply = client.get(path)
            assert reply.status_code == 303 and reply.headers["location"] == "/admin/login", path
        for path in ["/admin/keys", "/admin/keys/key_x/disable", "/admin/api/models", "/admin/logout"]:
            assert client.post(path, data={"csrf": "x"}).status_code == 401, path
        client.cookies.set(COOKIE_NAME, "forged.0000", path="/admin")
        assert client.get("/admin/keys").status_code == 303


def test_session_cookie_flags_and_logout_ends_the_session(live_gateway: LiveGateway) -> None:
    client, csrf = signed_in_client(live_gateway.base_url)
    try:
        form = client.get("/admin/logout")  # GET does not log out
        assert form.status_code == 405
        cookie_header = next(
            h for h in _set_cookies(live_gateway.base_url) if h.startswith(f"{COOKIE_NAME}=")
        )
        assert "HttpOnly" in cookie_header and "SameSite=strict" in cookie_header.replace("Strict", "strict")
        assert "Path=/admin" in cookie_header
        stolen = client.cookies.get(COOKIE_NAME)
        assert client.post("/admin/logout", data={"csrf": csrf}).status_code == 303
        with httpx.Client(base_url=live_gateway.base_url, timeout=10) as other:
            other.cookies.set(COOKIE_NAME, stolen, path="/admin")
            assert other.get("/admin/keys").status_code == 303  # the row is gone
    finally:
        client.close()


def _set_cookies(base: str) -> list[str]:
    with httpx.Client(base_url=base, timeout=10) as client:
        form = client.get("/admin/login")
        login_csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        reply = client.post("/admin/login", data={"csrf": login_csrf, "password": ADMIN_PASSWORD})
        return reply.headers.get_list("set-cookie")


def test_every_post_needs_the_csrf_token(live_gateway: LiveGateway) -> None:
    record, _key = live_gateway.store.create("csrf-target")
    client, csrf = signed_in_client(live_gateway.base_url)
    try:
        for data in ({}, {"csrf": "wrong"}):
            assert client.post(f"/admin/keys/{record.id}/disable", data=data).status_code == 403
            assert client.post("/admin/keys", data={"name": "x", **data}).status_code == 403
        assert client.post("/admin/api/models", json={}).status_code == 403
        assert client.post("/admin/api/models", json={}, headers={"X-CSRF-Token": "no"}).status_code == 403
        assert live_gateway.store.get(record.id).enabled
        assert client.post(f"/admin/keys/{record.id}/disable", data={"csrf": csrf}).status_code == 303
        assert not live_gateway.store.get(record.id).enabled
        models = client.post("/admin/api/models", json={}, headers={"X-CSRF-Token": csrf})
        assert models.status_code == 200 and models.json()["models"]
    finally:
        client.close()
    with httpx.Client(base_url=live_gateway.base_url, timeout=10) as fresh:
        fresh.get("/admin/login")
        reply = fresh.post("/admin/login", data={"csrf": "guess", "password": ADMIN_PASSWORD})
        assert reply.status_code == 403  # the sign-in form has its own token


def test_failed_sign_ins_are_throttled_per_address(live_gateway: LiveGateway) -> None:
    transport = httpx.ASGITransport(app=live_gateway.app, client=("10.9.8.7", 5555))
    limit = live_gateway.settings.admin_login_max_failures

    async def attempts() -> list[int]:
        async with httpx.AsyncClient(transport=transport, base_url="http://admin.test") as client:
            codes = []
            for password in ["wrong"] * limit + [ADMIN_PASSWORD]:
                form = await client.get("/admin/login")
                token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
                reply = await client.post("/admin/login", data={"csrf": token, "password": password})
                codes.append(reply.status_code)
            return codes

    import asyncio

    codes = asyncio.run(attempts())
    assert codes == [401] * limit + [429]  # even the right password waits out the window


def test_keys_service_over_grpc(live_gateway: LiveGateway) -> None:
    base = live_gateway.base_url
    with grpc.insecure_channel(f"127.0.0.1:{live_gateway.extra['grpc_port']}") as channel:
        stub = keys_pb2_grpc.KeysServiceStub(channel)
        created = stub.CreateKey(keys_pb2.CreateKeyRequest(name="grpc-ci", rate_limit_per_minute=60))
        live_gateway.extra.setdefault("secrets", []).append(created.secret)
        assert created.key.status == "enabled" and created.key.rate_limit_per_minute == 60
        assert created.secret.startswith(created.key.prefix)
        listed = stub.ListKeys(keys_pb2.ListKeysRequest())
        assert any(k.id == created.key.id for k in listed.keys)
        assert all(created.secret not in str(k) for k in listed.keys)
        assert _api(base, created.secret) == 200
        stub.SetKeyEnabled(keys_pb2.SetKeyEnabledRequest(ref=created.key.prefix, enabled=False))
        assert _api(base, created.secret) == 401
        stub.SetKeyEnabled(keys_pb2.SetKeyEnabledRequest(ref=created.key.id, enabled=True))
        rotated = stub.RotateKey(keys_pb2.RotateKeyRequest(ref=created.key.id))
        live_gateway.extra["secrets"].append(rotated.secret)
        assert _api(base, created.secret) == 401 and _api(base, rotated.secret) == 200
        assert stub.DeleteKey(keys_pb2.DeleteKeyRequest(ref=created.key.id)).id == created.key.id
        assert _api(base, rotated.secret) == 401
        with pytest.raises(grpc.RpcError) as missing:
            stub.DeleteKey(keys_pb2.DeleteKeyRequest(ref=created.key.id))
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as bad:
            stub.CreateKey(keys_pb2.CreateKeyRequest(name=" "))
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _api(base: str, key: str) -> int:
    reply = httpx.post(
        f"{base}/api/v2", json={"action": "models"}, headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
    return reply.status_code


def test_cli_key_lifecycle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ["keys", "--data-dir", str(tmp_path)]
    assert imgen_main([*data, "create", "cli", "--expires", "2099-01-01", "--rate-limit", "30"]) == 0
    secret = re.search(r"imgen_\S{32}", capsys.readouterr().out).group(0)
    assert imgen_main([*data, "list"]) == 0
    listing = capsys.readouterr().out
    assert secret not in listing and "2099-01-01" in listing and " 30 " in listing
    key_id = re.search(r"key_[0-9a-f]{16}", listing).group(0)
    assert imgen_main([*data, "rotate", key_id]) == 0
    new_secret = re.search(r"imgen_\S{32}", capsys.readouterr().out).group(0)
    assert new_secret != secret
    assert imgen_main([*data, "disable", key_id]) == 0 and "disabled" in capsys.readouterr().out
    assert imgen_main([*data, "delete", key_id]) == 0
    assert imgen_main([*data, "rotate", key_id]) == 1


def test_password_hashes_verify_and_refuse() -> None:
    encoded = hash_password("s3cret-admin-pass")
    assert encoded.startswith("scrypt$") and "s3cret" not in encoded
    assert verify_password("s3cret-admin-pass", encoded)
    assert not verify_password("s3cret-admin-pasS", encoded)
    assert not verify_password("x", "garbage")


def test_no_full_key_ever_reached_a_log(live_gateway: LiveGateway) -> None:
    """Runs last in this module: every secret the module's tests created is checked."""
    secrets_made = live_gateway.extra.get("secrets", [])
    assert secrets_made, "the key tests above record the secrets they saw"
    logged = live_gateway.logs.text()
    assert "admin changed a key" in logged or "key created over gRPC" in logged  # logs were captured
    for secret in secrets_made:
        assert secret not in logged
        assert secret[len("imgen_") :] not in logged

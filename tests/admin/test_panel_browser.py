"""The admin panel driven in headless Chromium: sign in, keys lifecycle against /api/v2, every page.

Screenshots of each page land in ``test-artifacts/admin/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .conftest import LiveGateway, launch, require_browser, screenshot, sign_in


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = require_browser()
    with sync_api.sync_playwright() as playwright:
        chromium = launch(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


def api_status(base_url: str, key: str) -> int:
    response = httpx.post(
        f"{base_url}/api/v2",
        json={"action": "models"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    return response.status_code


def row(page: Any, name: str) -> Any:
    return page.locator("#keys tbody tr", has_text=name)


def test_create_use_disable_rotate_delete_a_key(live_gateway: LiveGateway, page: Any) -> None:
    base = live_gateway.base_url
    sign_in(page, base)
    page.fill("input[name=name]", "browser-ci")
    page.fill("input[name=rate_limit_per_minute]", "120")
    page.click("form[action='/admin/keys'] button[type=submit]")
    secret = page.inner_text("#secret-value").strip()
    assert secret.startswith("imgen_") and len(secret) == 38
    screenshot(page, "keys-created")
    live_gateway.extra.setdefault("secrets", []).append(secret)

    assert api_status(base, secret) == 200
    page.goto(f"{base}/admin/keys")
    assert secret not in page.content()  # shown once, never again
    assert "120" in row(page, "browser-ci").inner_text()

    row(page, "browser-ci").get_by_role("button", name="Disable").click()
    page.wait_for_url(f"{base}/admin/keys")
    assert "disabled" in row(page, "browser-ci").inner_text()
    assert api_status(base, secret) == 401  # at once, no cache wait
    screenshot(page, "keys-disabled")

    row(page, "browser-ci").get_by_role("button", name="Enable").click()
    page.wait_for_url(f"{base}/admin/keys")
    assert api_status(base, secret) == 200
    page.once("dialog", lambda dialog: dialog.accept())
    row(page, "browser-ci").get_by_role("button", name="Rotate").click()
    rotated = page.inner_text("#secret-value").strip()
    live_gateway.extra["secrets"].append(rotated)
    assert rotated != secret
    assert api_status(base, secret) == 401 and api_status(base, rotated) == 200

    page.goto(f"{base}/admin/keys")
    page.once("dialog", lambda dialog: dialog.accept())
    row(page, "browser-ci").get_by_role("button", name="Delete").click()
    page.wait_for_url(f"{base}/admin/keys")
    assert row(page, "browser-ci").count() == 0
    assert api_status(base, rotated) == 401


def test_every_page_renders_and_is_screenshotted(live_gateway: LiveGateway, page: Any) -> None:
    base = live_gateway.base_url
    record, key = live_gateway.store.create("usage-chart")
    live_gateway.extra.setdefault("secrets", []).append(key)
    for _ in range(3):
        assert api_status(base, key) == 200
    sign_in(page, base)
    screenshot(page, "keys")

    page.goto(f"{base}/admin/playground")
    page.wait_for_selector("#model option", state="attached")
    assert page.locator("#character option").count() > 1  # characters from the real prompt service
    screenshot(page, "playground")

    page.goto(f"{base}/admin/jobs")
    assert page.locator("h1", has_text="Jobs").count() == 1
    screenshot(page, "jobs")

    for _ in range(100):  # the usage flush runs every 50 ms
        if live_gateway.store.get(record.id).request_count >= 3:
            break
        page.wait_for_timeout(50)
    page.goto(f"{base}/admin/usage")
    assert page.locator("svg.chart rect").count() >= 1
    assert "usage-chart" in page.inner_text("#usage").lower()
    screenshot(page, "usage")

    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(f"{base}/admin/keys")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    screenshot(page, "keys-phone")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{base}/admin/login")
    page.goto(f"{base}/admin/keys")
    assert page.url.endswith("/admin/login")
    screenshot(page, "login")

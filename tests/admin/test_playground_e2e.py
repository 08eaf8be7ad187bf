"""The playground against the whole mesh: generate from the browser and see the image (slow: e2e)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway.admin.password import ensure_admin_password

from .conftest import launch, require_browser, screenshot, sign_in

pytestmark = pytest.mark.e2e


def loaded_width(page: Any, element_id: str) -> int:
    """The image's natural width once it has loaded (0 if it never does within 30 s)."""
    width = 0
    for _ in range(300):
        width = int(page.evaluate(f"document.getElementById('{element_id}').naturalWidth"))
        if width:
            break
        page.wait_for_timeout(100)
    return width


def test_generate_from_the_playground_and_see_the_image(mesh: Any) -> None:
    sync_api = require_browser()
    password = ensure_admin_password(mesh.config.data_dir)  # what `imgen up` does
    base = mesh.base_url
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            sign_in(page, base, password)
            page.fill("input[name=name]", "e2e-panel")
            page.click("form[action='/admin/keys'] button[type=submit]")
            secret = page.inner_text("#secret-value").strip()
            reply = httpx.post(
                f"{base}/api/v2",
                json={"action": "models"},
                headers={"Authorization": f"Bearer {secret}"},
                timeout=30,
            )
            assert reply.status_code == 200

            page.goto(f"{base}/admin/playground")
            page.wait_for_selector("#model option", state="attached")
            page.fill("#prompt", "@aya black dress, warm lighting")
            page.click("#generate")
            page.wait_for_selector("#image:not([hidden])", timeout=240_000)
            assert loaded_width(page, "image") > 0
            assert page.inner_text("#error") == ""
            screenshot(page, "playground-result")

            page.click("#links a")
            page.wait_for_selector("#thumbnail")
            assert loaded_width(page, "thumbnail") > 0
            screenshot(page, "job")
            page.goto(f"{base}/admin/jobs?status=COMPLETED")
            assert page.locator("#jobs tbody a").count() >= 1
            screenshot(page, "jobs-completed")
        finally:
            browser.close()
    if mesh.config.log_dir:
        for log_file in mesh.config.log_dir.glob("*"):
            assert secret not in log_file.read_text(errors="replace"), log_file

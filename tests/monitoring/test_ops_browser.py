"""One real browser: headless Debian Chromium driven by Playwright, never a downloaded build."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest

from core import redis as coordination
from monitoring import keys
from tests.factories import UserFactory
from tests.monitoring.test_ops_dashboard import SNAPSHOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _ensure_chromium() -> None:
    if os.path.exists(CHROMIUM):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=300)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"],
        check=True,
        env=env,
        timeout=600,
    )


@pytest.mark.timeout(240)
@pytest.mark.django_db(transaction=True)
def test_staff_logs_in_and_finds_the_numbers(live_server):
    _ensure_chromium()
    assert shutil.which("chromium") or os.path.exists(CHROMIUM)
    UserFactory(email="ops-staff@example.com", role="admin", password="pass-Word-123")
    coordination.value_set(keys.SNAPSHOT_KEY, json.dumps({**SNAPSHOT, "refreshed_at": time.time()}))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page()
            page.goto(f"{live_server.url}/ops/")
            assert "/admin/login/" in page.url
            page.fill("#id_username", "ops-staff@example.com")
            page.fill("#id_password", "pass-Word-123")
            page.click("input[type=submit]")
            page.wait_for_url(f"{live_server.url}/ops/")

            assert page.text_content('[data-queue="default"]') == "4242"
            assert page.text_content('[data-outbox="failed"]') == "9"
            assert page.text_content('[data-budget="single"]') == "3599"
            assert page.text_content('[data-service="cache"]') == "down"
            # the script refreshed the numbers from data.json and drew the hour's charts
            page.wait_for_selector("body[data-refreshed='1']", timeout=15_000)
            assert page.get_attribute("#chart-requests", "data-last") == "69"
            assert page.locator("#chart-p95 polyline").count() == 1
        finally:
            browser.close()

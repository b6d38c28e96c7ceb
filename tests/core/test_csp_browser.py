"""The pages work under the Content-Security-Policy: a real browser (Debian Chromium driven
by Playwright, as tests/monitoring/test_ops_browser.py) loads each one and reports no
violation, and each page's own script ran."""

from __future__ import annotations

import json
import time

import pytest

from accounts.models import User
from core import redis as coordination
from monitoring import keys
from tests.monitoring.test_ops_browser import CHROMIUM, CHROMIUM_ARGS, _ensure_chromium
from tests.monitoring.test_ops_dashboard import SNAPSHOT

# Runs in every page before its own scripts: records what the policy refused.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__cspViolations.push(event.violatedDirective + ' ' + event.blockedURI);
});
"""


@pytest.mark.timeout(240)
@pytest.mark.django_db(transaction=True)
def test_admin_ops_and_docs_load_with_no_csp_violation(live_server):
    _ensure_chromium()
    staff = User.objects.create_superuser(email="csp-staff@example.com", password="pass-Word-123")
    coordination.value_set(keys.SNAPSHOT_KEY, json.dumps({**SNAPSHOT, "refreshed_at": time.time()}))
    from playwright.sync_api import sync_playwright

    console_errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page()
            page.add_init_script(RECORD_VIOLATIONS)
            page.on(
                "console",
                lambda message: (
                    console_errors.append(message.text)
                    if "Content Security Policy" in message.text
                    else None
                ),
            )

            def violations() -> list[str]:
                return page.evaluate("window.__cspViolations")

            page.goto(f"{live_server.url}/admin/login/")
            assert violations() == []
            page.fill("#id_username", staff.email)
            page.fill("#id_password", "pass-Word-123")
            page.click("input[type=submit]")
            page.wait_for_url(f"{live_server.url}/admin/")
            assert violations() == []

            for path in (
                "/admin/accounts/user/",
                f"/admin/accounts/user/{staff.pk}/change/",
                "/admin/accounts/user/add/",
            ):
                page.goto(f"{live_server.url}{path}")
                page.wait_for_load_state("networkidle")
                assert violations() == [], path
            # The admin's own scripts ran: the change list's action checkbox toggles all rows.
            page.goto(f"{live_server.url}/admin/accounts/user/")
            page.check("#action-toggle")
            assert page.locator("input.action-select:checked").count() >= 1

            page.goto(f"{live_server.url}/ops/")
            page.wait_for_selector("body[data-refreshed='1']", timeout=15_000)
            assert page.locator("#chart-p95 polyline").count() == 1
            assert violations() == []

            page.goto(f"{live_server.url}/api/docs/")
            page.wait_for_load_state("networkidle")
            assert violations() == []
            # Swagger UI ran its init script (from ?script) and fetched the schema.
            page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
            assert page.locator(".swagger-ui .opblock").count() > 10
            assert violations() == []
        finally:
            browser.close()
    assert console_errors == []

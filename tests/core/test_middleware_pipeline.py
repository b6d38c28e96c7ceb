"""The API pays only for the layers it uses (issue #12): no session, session user or message
storage on /api/, while every response keeps the security headers and a request id, and the
admin keeps sessions, CSRF and messages."""

from __future__ import annotations

import pytest
from django.http import HttpRequest, JsonResponse
from django.test import Client
from django.urls import include, path

from core.errors import api_not_found


def _layers(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {
            "session": hasattr(request, "session"),
            "user": "user" in request.__dict__,
            "messages": hasattr(request, "_messages"),
        }
    )


urlpatterns = [
    path("api/v1/layers", _layers),
    path("ops-layers", _layers),
    path("", include("config.urls")),
    path("api/<path:rest>", api_not_found),
]

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@pytest.mark.urls("tests.core.test_middleware_pipeline")
def test_api_requests_skip_sessions_session_auth_and_messages():
    client = Client()
    client.cookies["sessionid"] = "a-browser-session"

    api = client.get("/api/v1/layers").json()
    site = client.get("/ops-layers").json()

    assert api == {"session": False, "user": False, "messages": False}
    assert site == {"session": True, "user": True, "messages": True}


@pytest.mark.urls("tests.core.test_middleware_pipeline")
@pytest.mark.parametrize("path", ["/api/v1/layers", "/api/v1/nothing-here", "/api/health/live"])
def test_api_responses_keep_security_headers_and_request_id_and_set_no_cookie(path):
    client = Client()
    client.cookies["sessionid"] = "a-browser-session"

    response = client.get(path, HTTP_X_REQUEST_ID="pipeline-req-1")

    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name
    assert response.headers["X-Request-ID"] == "pipeline-req-1"
    assert not response.cookies
    assert "Cookie" not in response.headers.get("Vary", "")


@pytest.mark.django_db
def test_admin_login_keeps_csrf_session_and_messages(admin_user):
    admin_user.set_password("pw-123456789")
    admin_user.save()
    client = Client(enforce_csrf_checks=True)

    page = client.get("/admin/login/")
    refused = client.post("/admin/login/", {"username": admin_user.email, "password": "x"})
    token = page.cookies["csrftoken"].value
    logged_in = client.post(
        "/admin/login/?next=/admin/",
        {"username": admin_user.email, "password": "pw-123456789", "csrfmiddlewaretoken": token},
    )

    assert page.status_code == 200
    assert refused.status_code == 403  # no CSRF token
    assert logged_in.status_code == 302 and "sessionid" in logged_in.cookies
    assert client.get("/admin/").status_code == 200

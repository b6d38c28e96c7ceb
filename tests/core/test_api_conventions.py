from __future__ import annotations

import json

import pytest
from django.test import Client, override_settings

pytestmark = [pytest.mark.urls("tests.core.urls"), pytest.mark.django_db]


def _problem(response) -> dict:
    assert response["Content-Type"] == "application/problem+json"
    body = json.loads(response.content)
    assert set(body) == {"type", "title", "status", "detail", "code", "errors"}
    assert body["status"] == response.status_code
    return body


def test_success_is_wrapped_in_the_envelope(api_client):
    response = api_client.get("/api/v1/echo")
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"ok": True}
    assert body["meta"]["version"] == "v1"
    assert body["meta"]["timestamp"].endswith("Z")
    assert api_client.get("/api/v2/echo").json()["meta"]["version"] == "v2"


def test_trailing_slash_is_a_404_problem_not_a_redirect(api_client):
    response = api_client.get("/api/v1/echo/")
    assert response.status_code == 404
    assert _problem(response)["type"] == "/problems/not_found"


def test_nested_validation_errors_map_to_dotted_paths(api_client):
    response = api_client.post(
        "/api/v1/echo",
        {"items": [{"title": "ok"}, {"title": "far too long", "sizes": ["x"]}]},
        format="json",
    )
    body = _problem(response)
    assert response.status_code == 400
    assert body["code"] == "invalid"
    assert set(body["errors"]) == {"items.1.title", "items.1.sizes.0"}


def test_object_level_errors_use_non_field_errors(api_client):
    response = api_client.post("/api/v1/echo", {"items": [{"title": "a"}] * 3}, format="json")
    assert _problem(response)["errors"] == {"non_field_errors": ["At most two items."]}


def test_malformed_json_is_400(api_client):
    response = api_client.generic(
        "POST", "/api/v1/echo", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert _problem(response)["code"] == "parse_error"


def test_unsupported_media_type_is_415(api_client):
    response = api_client.generic("POST", "/api/v1/echo", "a=b", content_type="text/plain")
    assert response.status_code == 415
    _problem(response)


def test_wrong_method_is_405(api_client):
    response = api_client.delete("/api/v1/echo")
    assert response.status_code == 405
    _problem(response)


@override_settings(API_MAX_BODY_BYTES=64)
def test_oversized_body_is_413_before_parsing(api_client):
    response = api_client.generic("POST", "/api/v1/echo", "x" * 65, content_type="application/json")
    assert response.status_code == 413
    assert _problem(response)["code"] == "payload_too_large"


def test_domain_errors_get_their_own_problem_type(api_client):
    response = api_client.get("/api/v1/conflict")
    body = _problem(response)
    assert response.status_code == 409
    assert body["type"] == "/problems/already_done"


def test_unhandled_error_is_a_500_problem_without_internals():
    client = Client(raise_request_exception=False)
    response = client.get("/api/v1/boom")
    assert response.status_code == 500
    body = _problem(response)
    assert "SELECT" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert body["code"] == "server_error"


def test_unauthenticated_is_401_with_www_authenticate(api_client):
    response = api_client.get("/api/v1/private")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    _problem(response)


@override_settings(RATE_LIMITS={"default": "3/h", "slow": "2/h"})
def test_limiter_runs_before_permissions_and_sends_headers(api_client):
    statuses = [api_client.get("/api/v1/private").status_code for _ in range(3)]
    assert statuses == [401, 401, 429]  # anonymous floods are limited, not just answered
    refused = api_client.get("/api/v1/private")
    _problem(refused)
    assert refused["Cache-Control"] == "no-store"
    assert int(refused["Retry-After"]) >= 1
    assert refused["X-RateLimit-Remaining"] == "0"
    assert refused["RateLimit-Policy"] == '"slow";q=2;w=3600'


@override_settings(RATE_LIMITS={"default": "3/h"})
def test_successful_responses_carry_rate_limit_headers(api_client):
    response = api_client.get("/api/v1/echo")
    assert response["X-RateLimit-Limit"] == "3"
    assert response["X-RateLimit-Remaining"] == "2"
    assert response["RateLimit"].startswith('"default";r=2;')


@override_settings(RATE_LIMITS={"default": "2/h"}, TRUSTED_PROXIES=["127.0.0.1/32"])
def test_limiter_keys_on_the_client_ip_from_a_trusted_proxy(api_client):
    for _ in range(2):
        assert api_client.get("/api/v1/echo", HTTP_X_FORWARDED_FOR="203.0.113.1").status_code == 200
    assert api_client.get("/api/v1/echo", HTTP_X_FORWARDED_FOR="203.0.113.1").status_code == 429
    assert api_client.get("/api/v1/echo", HTTP_X_FORWARDED_FOR="203.0.113.2").status_code == 200


@override_settings(RATE_LIMITS={"default": "2/h"}, TRUSTED_PROXIES=[])
def test_forged_forwarded_for_from_untrusted_peer_is_ignored(api_client):
    for ip in ("203.0.113.1", "203.0.113.2"):
        assert api_client.get("/api/v1/echo", HTTP_X_FORWARDED_FOR=ip).status_code == 200
    assert api_client.get("/api/v1/echo", HTTP_X_FORWARDED_FOR="203.0.113.3").status_code == 429


def test_request_id_is_echoed_or_generated(api_client):
    assert (
        api_client.get("/api/v1/echo", HTTP_X_REQUEST_ID="abc12345-req").headers["X-Request-ID"]
        == "abc12345-req"
    )
    generated = api_client.get("/api/v1/echo", HTTP_X_REQUEST_ID="bad id!").headers["X-Request-ID"]
    assert len(generated) == 32 and generated != "bad id!"


@pytest.mark.urls("config.urls")
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/v1/nonexistent"), ("DELETE", "/api/v1/tasks/abc"), ("PUT", "/api/v9/x")],
)
def test_unmatched_api_path_with_unsafe_method_is_404_not_csrf(method, path):
    # A browser-like client with CSRF enforced and a session cookie, as an attacker's page has.
    client = Client(enforce_csrf_checks=True)
    client.cookies["sessionid"] = "whatever"
    response = client.generic(method, path, "{}", content_type="application/json")
    assert response.status_code == 404
    assert _problem(response)["code"] == "not_found"

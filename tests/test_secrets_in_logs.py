"""No configured secret ever reaches the logs, even at DEBUG.

A representative flow runs with the project's own logging configuration at DEBUG (the root
and every library logger the configuration leaves alone): a failed and a good login, a
token refresh, a task create, a provider sync call and alert webhooks (one delivered, one
failing). The captured output must not contain SECRET_KEY, the JWT signing key, the provider
token, a password, a webhook URL (its path is the credential) or an issued token.
"""

from __future__ import annotations

import copy
import io
import logging
import logging.config
import secrets
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from accounts.services import user_create
from monitoring import alerting
from syncqueue import client as provider_client
from syncqueue.models import OutboxRecord, OutboxStatus
from syncqueue.services.relay import outbox_push
from syncqueue.stub import ProviderStub
from tests.monitoring.conftest import WebhookReceiver
from tests.servers import free_port

# The console handler's stream while the flow runs (dictConfig resolves "ext://").
LOG_BUFFER = io.StringIO()


@pytest.fixture
def debug_log(settings) -> io.StringIO:
    """The project's LOGGING with LOG_LEVEL=DEBUG, its console handler writing to LOG_BUFFER.
    Set as the LOGGING setting too: Celery's Django fixup re-runs django.setup() (and so
    dictConfig) when the first job is looked up, and must reapply this, not the default."""
    config = copy.deepcopy(django_settings.LOGGING)
    config["root"]["level"] = "DEBUG"
    config["handlers"]["console"]["stream"] = "ext://tests.test_secrets_in_logs.LOG_BUFFER"
    LOG_BUFFER.seek(0)
    LOG_BUFFER.truncate()
    original = django_settings.LOGGING
    settings.LOGGING = config
    logging.config.dictConfig(config)
    yield LOG_BUFFER
    logging.config.dictConfig(original)


@pytest.mark.django_db(transaction=True)
def test_a_representative_flow_logs_no_secret(debug_log, settings):
    password = "Pw-" + secrets.token_urlsafe(16)
    provider_token = "provider-" + secrets.token_urlsafe(24)
    receiver = WebhookReceiver()
    slack_url = receiver.url("/services/T0SECRET/B0SECRET/" + secrets.token_urlsafe(18))
    discord_url = receiver.url("/api/webhooks/1234/" + secrets.token_urlsafe(30))
    dead_webhook = f"http://127.0.0.1:{free_port()}/hooks/" + secrets.token_urlsafe(20)
    stub = ProviderStub(token=provider_token)
    settings.SYNC_PROVIDER_URL = stub.start(port=0)
    settings.SYNC_PROVIDER_TOKEN = provider_token
    settings.SYNC_COALESCE = True
    settings.SLACK_WEBHOOK_URL, settings.SLACK_ALERTS_ENABLED = slack_url, True
    settings.DISCORD_WEBHOOK_URL, settings.DISCORD_ALERTS_ENABLED = discord_url, True
    provider_client.reset_clients()
    issued: list[str] = []
    try:
        user = user_create(email="flow@example.com", password=password, name="Flow")
        api = APIClient()
        wrong = api.post(
            "/api/v1/auth/token",
            {"email": user.email, "password": password + "-wrong"},
            format="json",
        )
        assert wrong.status_code == 401
        login = api.post(
            "/api/v1/auth/token", {"email": user.email, "password": password}, format="json"
        )
        assert login.status_code == 200
        tokens = login.json()["data"]
        refreshed = api.post(
            "/api/v1/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json"
        ).json()["data"]
        issued += [tokens["access"], tokens["refresh"], refreshed["access"], refreshed["refresh"]]
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {refreshed['access']}")
        assert (
            api.post("/api/v1/tasks", {"title": "Secret plans"}, format="json").status_code == 201
        )

        # A provider sync call: the user's unsent row goes out, authenticated with the token.
        assert OutboxRecord.objects.filter(user_id=user.pk, status=OutboxStatus.UNSENT).exists()
        outbox_push(flush=True)
        assert not OutboxRecord.objects.filter(user_id=user.pk, status=OutboxStatus.UNSENT).exists()

        # Alert webhooks: delivered, then one to a dead endpoint (the failure is logged).
        assert alerting.alert_fire(key="secrets", title="Test alert", message="m", level="critical")
        assert len(receiver.bodies(urlsplit(slack_url).path)) == 1
        settings.SLACK_WEBHOOK_URL = dead_webhook
        alerting.alert_fire(key="secrets-2", title="Second alert", message="m", level="critical")
    finally:
        stub.stop()
        receiver.close()
        provider_client.reset_clients()

    output = debug_log.getvalue()
    assert " DEBUG " in output and " celery." in output  # DEBUG really was on, libraries too
    forbidden = {
        "SECRET_KEY": django_settings.SECRET_KEY,
        "JWT signing key": django_settings.SIMPLE_JWT["SIGNING_KEY"],
        "provider token": provider_token,
        "password": password,
        "slack webhook": slack_url,
        "slack webhook secret": slack_url.rsplit("/", 1)[1],
        "discord webhook": discord_url,
        "discord webhook secret": discord_url.rsplit("/", 1)[1],
        "dead webhook": dead_webhook.rsplit("/", 1)[1],
        **{f"issued token {i}": token for i, token in enumerate(issued)},
        **{
            f"issued token {i} signature": token.rsplit(".", 1)[1] for i, token in enumerate(issued)
        },
    }
    leaked = sorted(name for name, secret in forbidden.items() if secret and secret in output)
    assert leaked == [], [
        line for line in output.splitlines() if any(v in line for v in forbidden.values() if v)
    ][:20]

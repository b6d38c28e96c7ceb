"""Alert channels: Slack and Discord incoming webhooks, each with its own payload format.

A channel never raises: a timeout, a refused connection or a non-2xx answer is logged and
reported as `False`, so alerting can never break the job (or request) that raised it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from django.conf import settings

logger = logging.getLogger(__name__)

# Slack attachment colours / Discord embed colours (decimal RGB) per level.
SLACK_COLORS = {"critical": "#d00000", "warning": "#f2c744", "resolved": "#2eb67d"}
DISCORD_COLORS = {"critical": 0xD00000, "warning": 0xF2C744, "resolved": 0x2EB67D}
LEVEL_EMOJI = {
    "critical": ":rotating_light:",
    "warning": ":warning:",
    "resolved": ":white_check_mark:",
}


@dataclass(frozen=True)
class Notification:
    key: str
    title: str
    message: str
    level: str  # critical | warning
    is_resolved: bool
    at: datetime

    @property
    def tone(self) -> str:
        return "resolved" if self.is_resolved else self.level

    @property
    def heading(self) -> str:
        prefix = "RESOLVED" if self.is_resolved else self.level.upper()
        return f"[{prefix}] {self.title}"


def slack_payload(notification: Notification) -> dict[str, Any]:
    """Slack incoming-webhook body: `text` fallback plus one coloured attachment."""
    return {
        "text": f"{LEVEL_EMOJI[notification.tone]} {notification.heading}",
        "attachments": [
            {
                "color": SLACK_COLORS[notification.tone],
                "title": notification.heading,
                "text": notification.message,
                "fields": [
                    {"title": "Alert", "value": notification.key, "short": True},
                    {"title": "Level", "value": notification.level, "short": True},
                ],
                "ts": int(notification.at.timestamp()),
            }
        ],
    }


def discord_payload(notification: Notification) -> dict[str, Any]:
    """Discord webhook body: `content` plus one embed (Discord ignores Slack's attachments)."""
    return {
        "content": notification.heading,
        "embeds": [
            {
                "title": notification.heading,
                "description": notification.message[:4000],  # Discord caps descriptions at 4096
                "color": DISCORD_COLORS[notification.tone],
                "fields": [
                    {"name": "Alert", "value": notification.key, "inline": True},
                    {"name": "Level", "value": notification.level, "inline": True},
                ],
                "timestamp": notification.at.isoformat(),
            }
        ],
    }


def _post(*, channel: str, url: str, payload: dict[str, Any]) -> bool:
    try:
        response = httpx.post(url, json=payload, timeout=settings.ALERT_WEBHOOK_TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        logger.error("alert webhook failed channel=%s error=%s", channel, exc)
        return False
    if response.status_code >= 300:
        logger.error(
            "alert webhook refused channel=%s status=%s body=%s",
            channel,
            response.status_code,
            response.text[:200],
        )
        return False
    return True


def enabled_channels() -> list[str]:
    channels = []
    if settings.SLACK_ALERTS_ENABLED and settings.SLACK_WEBHOOK_URL:
        channels.append("slack")
    if settings.DISCORD_ALERTS_ENABLED and settings.DISCORD_WEBHOOK_URL:
        channels.append("discord")
    return channels


def notify(notification: Notification) -> dict[str, bool]:
    """Send to every enabled channel; returns channel -> delivered. Never raises."""
    results: dict[str, bool] = {}
    for channel in enabled_channels():
        try:
            if channel == "slack":
                results[channel] = _post(
                    channel=channel,
                    url=settings.SLACK_WEBHOOK_URL,
                    payload=slack_payload(notification),
                )
            else:
                results[channel] = _post(
                    channel=channel,
                    url=settings.DISCORD_WEBHOOK_URL,
                    payload=discord_payload(notification),
                )
        except Exception:  # a malformed URL or payload bug must not escape either
            logger.exception("alert webhook error channel=%s key=%s", channel, notification.key)
            results[channel] = False
    return results

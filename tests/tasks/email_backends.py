"""Mail backends for the SMTP edge: one that fails on demand (retry tests), one that is slow
and delivers to files (worker-kill tests)."""

from __future__ import annotations

import os
import smtplib
import threading
import time
import uuid
from pathlib import Path

from django.core.mail.backends import locmem
from django.core.mail.backends.base import BaseEmailBackend

_lock = threading.Lock()
# recipient address → how many more sends to that address fail (-1: always)
failures: dict[str, int] = {}


class FlakyBackend(locmem.EmailBackend):
    def send_messages(self, messages):
        for message in messages:
            for address in message.to:
                with _lock:
                    remaining = failures.get(address, 0)
                    if remaining:
                        failures[address] = remaining - 1 if remaining > 0 else -1
                        raise smtplib.SMTPServerDisconnected(f"fake outage for {address}")
        return super().send_messages(messages)


class SlowFileBackend(BaseEmailBackend):
    """A slow mail server whose deliveries outlive the worker: each message's subject goes to
    its own file in TEST_MAIL_DIR after TEST_MAIL_SECONDS (for worker processes a test kills)."""

    def send_messages(self, messages):
        delay = float(os.environ.get("TEST_MAIL_SECONDS", "0"))
        directory = Path(os.environ["TEST_MAIL_DIR"])
        for message in messages:
            time.sleep(delay)  # the SMTP round trip a test kills the worker in
            (directory / f"{uuid.uuid4().hex}.txt").write_text(message.subject)
        return len(messages)

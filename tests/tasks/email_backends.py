"""A mail backend that fails on demand: the SMTP edge, for retry tests."""

from __future__ import annotations

import smtplib
import threading

from django.core.mail.backends import locmem

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

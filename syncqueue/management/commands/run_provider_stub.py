from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from syncqueue.stub import ProviderStub


class Command(BaseCommand):
    help = "Run the local provider stub (syncqueue/PROVIDER.md) until interrupted."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
        parser.add_argument("--window-seconds", type=int, default=settings.SYNC_WINDOW_SECONDS)
        parser.add_argument("--batch-limit", type=int, default=settings.SYNC_BATCH_CALLS_PER_WINDOW)
        parser.add_argument(
            "--single-limit", type=int, default=settings.SYNC_SINGLE_CALLS_PER_WINDOW
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stub = ProviderStub(
            window_seconds=options["window_seconds"],
            batch_limit=options["batch_limit"],
            single_limit=options["single_limit"],
            token=settings.SYNC_PROVIDER_TOKEN,
        )
        url = stub.start(host=options["host"], port=options["port"])
        self.stdout.write(f"provider stub listening on {url} (window {stub.window_seconds} s)")
        self.stdout.flush()
        try:
            assert stub.thread is not None
            while stub.thread.is_alive():
                stub.thread.join(timeout=1.0)
        except KeyboardInterrupt:
            self.stdout.write("stopping")
        finally:
            stub.stop()

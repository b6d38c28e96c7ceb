"""Regenerate every sitemap section and the index from the database (first deploy, repair)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from posts.sitemap import sitemap_rebuild_all


class Command(BaseCommand):
    help = "Regenerate all stored sitemap sections and the index (published posts only)."

    def handle(self, *args: Any, **options: Any) -> None:
        names = sitemap_rebuild_all()
        self.stdout.write(f"posts_sitemap_rebuild: regenerated {len(names)} documents")

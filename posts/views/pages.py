"""The public post page, `/posts/<slug>`: the URL the sitemap lists, server-rendered, no script.

Shared caches may keep it for POST_PAGE_MAX_AGE_SECONDS; the server keeps the rendered data
under the posts list generation, so any publish, edit or unpublish shows up on the next miss.
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_safe

from posts import keys
from posts.cache import cache_fetch
from posts.selectors import post_public_page

# Five minutes: the same order as the sitemap's max-age, short enough for corrections.
POST_PAGE_MAX_AGE_SECONDS = 300


@require_safe
def post_page(request: HttpRequest, slug: str) -> HttpResponse:
    page = cache_fetch(
        kind="page-html",
        generation_keys=[keys.generation_list()],
        query={"slug": slug},
        ttl_seconds=settings.POSTS_V2_CACHE_SECONDS,
        build=lambda: post_public_page(slug=slug),
    )
    if page is None:
        raise Http404("No such post.")
    canonical = f"{settings.SITE_URL.rstrip('/')}/posts/{page['slug']}"
    response = render(request, "posts/page.html", {"post": page, "canonical_url": canonical})
    patch_cache_control(response, public=True, max_age=POST_PAGE_MAX_AGE_SECONDS)
    return response

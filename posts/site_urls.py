"""Root-level URLs of posts: the public post pages, the stored sitemap index and its sections."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.http import require_safe

from posts.sitemap import INDEX_NAME, section_name, sitemap_document
from posts.views.pages import post_page

# Crawlers may cache a sitemap for a few minutes; it changes with publishes only.
SITEMAP_MAX_AGE_SECONDS = 300


def _xml(name: str) -> HttpResponse:
    xml = sitemap_document(name=name)
    if xml is None:
        raise Http404("No such sitemap section.")
    response = HttpResponse(xml, content_type="application/xml")
    response["Cache-Control"] = f"public, max-age={SITEMAP_MAX_AGE_SECONDS}"
    return response


@require_safe
def sitemap_index(request: HttpRequest) -> HttpResponse:
    """The stored index: one <sitemap> per non-empty section (never rebuilt per request)."""
    return _xml(INDEX_NAME)


@require_safe
def sitemap_section(request: HttpRequest, number: int) -> HttpResponse:
    return _xml(section_name(number))


urlpatterns = [
    # The sitemap lists exactly this URL (SITE_URL + /posts/<slug>).
    path("posts/<slug:slug>", post_page, name="post-page"),
    path("sitemap.xml", sitemap_index, name="sitemap-index"),
    path("sitemap-section-<int:number>.xml", sitemap_section, name="sitemap-section"),
]

"""The Swagger UI page at /api/docs/, served under the site's Content-Security-Policy.

drf-spectacular's default page carries an inline `<script>` and an inline `<style>`, which
a policy without 'unsafe-inline' blocks. The split view serves the init script from
`?script` (a same-origin URL) and our template links the few style rules as a static file,
so the page needs nothing inline.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework.request import Request


class ApiDocsView(SpectacularSwaggerSplitView):
    template_name = "core/api_docs.html"

    # A plain HttpResponse on purpose (a DRF Response would go through the HTML renderer);
    # APIView's stubs type OPTIONS as returning Response, and disagree with View's on `request`.
    def options(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:  # type: ignore[override]
        # DRF's OPTIONS renders metadata through this view's HTML renderer, which has no
        # template for it (a 500); the page has nothing to describe beyond its methods.
        return HttpResponse(status=204, headers={"Allow": ", ".join(self.allowed_methods)})

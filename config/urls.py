from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView

from core import pages
from core.docs import ApiDocsView
from core.errors import api_not_found
from core.throttling import limit_sign_in

# Each app's urls.py spells out its full paths below /api/ (e.g. "v1/posts", "v2/posts").
urlpatterns = [
    # Before admin.site.urls, so this one answers /admin/login/ (the /ops/ sign-in too).
    path(
        "admin/login/",
        limit_sign_in(
            admin.site.login, ip_scope="admin_login_ip", username_scope="admin_login_user"
        ),
        name="admin-login-limited",
    ),
    path("admin/", admin.site.urls),
    path("", pages.front_door, name="front-door"),
    path("problems", pages.problem_list, name="problem-list"),
    path("problems/<slug:code>", pages.problem_detail, name="problem-detail"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="schema"), name="docs"),
    # The docs are pages people type: both spellings answer (the API's own resources have no
    # trailing slash, and their other form is a 404).
    path("api/schema", SpectacularAPIView.as_view(), name="schema-no-slash"),
    path("api/docs", ApiDocsView.as_view(url_name="schema"), name="docs-no-slash"),
    path("api/", include("stats.urls")),
    path("api/", include("accounts.urls")),
    path("api/", include("posts.urls")),
    path("api/", include("tasks.urls")),
    path("api/", include("syncqueue.urls")),
    path("api/", include("monitoring.urls")),
    path("", include("posts.site_urls")),
    path("", include("monitoring.ops_urls")),
    # Anything else under /api/ is a problem+json 404, in DEBUG too (never the HTML debug page).
    re_path(r"^api/", api_not_found),
]

handler400 = "core.errors.bad_request"
handler403 = "core.errors.permission_denied"
handler404 = "core.errors.page_not_found"
handler500 = "core.errors.server_error"

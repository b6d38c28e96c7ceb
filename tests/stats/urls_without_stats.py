"""A URLconf without /api/stats (test_wsgi_shortcut)."""

urlpatterns: list[object] = []

"""Shared view behaviour for every DRF view in the project."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response


class LimitFirstMixin:
    """Decide the rate limit before permissions (anonymous floods are limited too), and
    limit requests whose credentials fail by IP before answering 401.

    Every DRF view in the project mixes this in; tests/core/test_views_use_limiter.py checks.
    """

    # False for responses a shared cache may store (per-client numbers must not be cached).
    rate_limit_headers = True

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.format_kwarg = self.get_format_suffix(**kwargs)  # type: ignore[attr-defined]
        negotiated = self.perform_content_negotiation(request)  # type: ignore[attr-defined]
        request.accepted_renderer, request.accepted_media_type = negotiated
        version, scheme = self.determine_version(request, *args, **kwargs)  # type: ignore[attr-defined]
        request.version, request.versioning_scheme = version, scheme
        try:
            self.perform_authentication(request)  # type: ignore[attr-defined]
        except exceptions.APIException:
            self.check_throttles(request)  # type: ignore[attr-defined]
            raise
        self.check_throttles(request)  # type: ignore[attr-defined]
        self.check_permissions(request)  # type: ignore[attr-defined]

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        decision = getattr(request, "rate_limit_decision", None)
        if decision is not None and (self.rate_limit_headers or response.status_code == 429):
            for name, value in decision.headers().items():
                response[name] = value
        return response

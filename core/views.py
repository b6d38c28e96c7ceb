"""Shared view behaviour for every DRF view in the project."""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


# Derives from APIView so the hooks it calls are type-checked. Views put it first,
# `class V(LimitFirstMixin, GenericAPIView)`; their bases derive from APIView too, so the MRO
# stays: the view, this class, the view base, APIView.
class LimitFirstMixin(APIView):
    """Decide the rate limit before permissions (anonymous floods are limited too), and
    limit requests whose credentials fail by IP before answering 401.

    Every DRF view in the project mixes this in; tests/core/test_project_wiring.py checks.
    """

    # False for responses a shared cache may store (per-client numbers must not be cached).
    rate_limit_headers = True

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.format_kwarg = self.get_format_suffix(**kwargs)
        negotiated = self.perform_content_negotiation(request)
        request.accepted_renderer, request.accepted_media_type = negotiated
        version, scheme = self.determine_version(request, *args, **kwargs)
        request.version, request.versioning_scheme = version, scheme
        try:
            self.perform_authentication(request)
        except exceptions.APIException:
            self.check_throttles(request)
            raise
        self.check_throttles(request)
        self.check_permissions(request)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        decision = getattr(request, "rate_limit_decision", None)
        if decision is not None and (self.rate_limit_headers or response.status_code == 429):
            for name, value in decision.headers().items():
                response[name] = value
        return response


_User = TypeVar("_User", bound=AbstractBaseUser)


def authenticated_user(user: _User | AnonymousUser) -> _User:
    """`request.user` in a view behind IsAuthenticated, typed as the user model.

    The permission already refused anonymous requests; this only re-checks (401 if it ever
    runs without that permission) and drops AnonymousUser from the type.
    """
    if isinstance(user, AnonymousUser) or not user.is_authenticated:
        raise exceptions.NotAuthenticated()
    return user

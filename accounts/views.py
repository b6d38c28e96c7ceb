"""Auth (JWT obtain/refresh/verify/logout-all) and the users API. Views only translate."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView, TokenVerifyView

from accounts.models import User
from accounts.selectors import user_get_visible, user_list
from accounts.serializers import (
    LogoutAllOut,
    TokenObtainIn,
    TokenPairOut,
    TokenRefreshIn,
    TokenVerifyIn,
    TokenVerifyOut,
    UserAdminUpdateIn,
    UserCreateIn,
    UserListQuery,
    UserOut,
    UserSelfUpdateIn,
    enveloped,
)
from accounts.services import (
    user_create,
    user_deactivate,
    user_logout_all,
    user_set_role,
    user_update,
)
from accounts.tokens import refresh_rotate, token_pair_for, token_verify
from core.errors import PROBLEM_CONTENT_TYPE
from core.serializers import ProblemOut
from core.views import LimitFirstMixin

PROBLEM_DESCRIPTIONS = {
    400: "Invalid input (unknown or read-only keys included); see `errors`.",
    401: "Missing, invalid, expired or revoked credentials.",
    403: "Authenticated but not an admin.",
    404: "No such user, or not yours to see.",
    409: "Email taken, or the last active admin would be lost.",
    429: "Rate limited; see Retry-After and the RateLimit headers.",
    503: "Rate limiter unavailable (auth fails closed); retry after Retry-After.",
}


def problems(*statuses: int) -> dict[Any, OpenApiResponse]:
    return {
        (status_code, PROBLEM_CONTENT_TYPE): OpenApiResponse(
            ProblemOut, description=PROBLEM_DESCRIPTIONS[status_code]
        )
        for status_code in statuses
    }


class IsAdminRole(permissions.BasePermission):
    """Only users whose role is admin."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_admin)


# --------------------------------------------------------------------------- auth


# Every auth view: throttle_scope "auth" (10/m per client IP or user); the limiter fails
# closed (503) for this scope when Redis is down, see core.throttling.


@extend_schema(
    tags=["auth"],
    summary="Obtain an access/refresh token pair",
    request=TokenObtainIn,
    responses={200: enveloped(TokenPairOut), **problems(400, 401, 429, 503)},
    auth=[],
)
class TokenObtainView(LimitFirstMixin, TokenObtainPairView):
    """`{email, password}` → `{access, refresh}`; both carry the user's token_version."""

    throttle_scope = "auth"
    serializer_class = TokenObtainIn

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = TokenObtainIn(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        return Response(token_pair_for(serializer.validated_data["user"]))


@extend_schema(
    tags=["auth"],
    summary="Rotate a refresh token (the old one is blacklisted)",
    request=TokenRefreshIn,
    responses={200: enveloped(TokenPairOut), **problems(400, 401, 429, 503)},
    auth=[],
)
class TokenRefreshRotateView(LimitFirstMixin, TokenRefreshView):
    """A refresh token → a new pair; the old refresh token is blacklisted (single use)."""

    throttle_scope = "auth"
    serializer_class = TokenRefreshIn

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = TokenRefreshIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(refresh_rotate(raw=serializer.validated_data["refresh"]))


@extend_schema(
    tags=["auth"],
    summary="Check a token (signature, expiry, blacklist, token_version)",
    request=TokenVerifyIn,
    responses={200: enveloped(TokenVerifyOut), **problems(400, 401, 429, 503)},
    auth=[],
)
class TokenVerifyCheckView(LimitFirstMixin, TokenVerifyView):
    """200 iff the token is well signed, unexpired, not blacklisted and not revoked."""

    throttle_scope = "auth"
    serializer_class = TokenVerifyIn

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = TokenVerifyIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        token_verify(raw=serializer.validated_data["token"])
        return Response({"valid": True})


@extend_schema(
    tags=["auth"],
    summary="Log out everywhere: every access and refresh token of the caller stops working",
    request=None,
    responses={200: enveloped(LogoutAllOut), **problems(401, 429, 503)},
)
class LogoutAllView(LimitFirstMixin, APIView):
    """Bump the caller's token_version and blacklist their outstanding refresh tokens."""

    throttle_scope = "auth"
    permission_classes = [permissions.IsAuthenticated]

    def post(self, request: Request) -> Response:
        revoked = user_logout_all(user=request.user)
        return Response({"refresh_tokens_revoked": revoked})


# --------------------------------------------------------------------------- users


class UserListCreateView(LimitFirstMixin, GenericAPIView):
    """Admins only: page list (`?page=&page_size=`, filters) and creation."""

    permission_classes = [permissions.IsAuthenticated, IsAdminRole]
    serializer_class = UserOut
    queryset = User.objects.none()

    @extend_schema(
        tags=["users"],
        summary="List users (admin)",
        operation_id="users_list",
        parameters=[
            OpenApiParameter("page", int),
            OpenApiParameter("page_size", int, description="1-100, default 20"),
            OpenApiParameter("role", str, enum=User.Role.values),
            OpenApiParameter("is_active", bool),
            OpenApiParameter("search", str, description="substring of email or name"),
        ],
        responses={200: enveloped(UserOut, many=True), **problems(400, 401, 403, 429)},
    )
    def get(self, request: Request) -> Response:
        query = UserListQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        filters = {k: v for k, v in query.validated_data.items() if k not in ("page", "page_size")}
        page = self.paginate_queryset(user_list(**filters))
        return self.get_paginated_response(UserOut(page, many=True).data)

    @extend_schema(
        tags=["users"],
        summary="Create a user (admin)",
        request=UserCreateIn,
        responses={201: enveloped(UserOut), **problems(400, 401, 403, 409, 429)},
    )
    def post(self, request: Request) -> Response:
        serializer = UserCreateIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_create(**serializer.validated_data)
        return Response(UserOut(user).data, status=status.HTTP_201_CREATED)


class _UserDetailBase(LimitFirstMixin, GenericAPIView):
    """Self or admin; anyone else gets 404 (no way to probe which ids exist)."""

    permission_classes = [permissions.IsAuthenticated]
    serializer_class = UserOut
    queryset = User.objects.none()

    def target(self, request: Request, pk: int | None) -> User:
        if pk is None:
            return request.user
        return user_get_visible(user_id=pk, viewer=request.user)

    def _retrieve(self, request: Request, pk: int | None) -> Response:
        return Response(UserOut(self.target(request, pk)).data)

    def _update(self, request: Request, pk: int | None) -> Response:
        user = self.target(request, pk)
        if request.user.is_admin:
            serializer = UserAdminUpdateIn(data=request.data, context={"user": user})
        else:
            serializer = UserSelfUpdateIn(data=request.data, context={"user": user})
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        role = data.pop("role", None)
        user = user_update(user=user, data=data)
        if role is not None and role != user.role:
            user = user_set_role(user=user, role=role)
        return Response(UserOut(user).data)

    def _destroy(self, request: Request, pk: int | None) -> Response:
        user_deactivate(user=self.target(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


_UPDATE_DOC = {
    "tags": ["users"],
    "request": UserSelfUpdateIn,
    "description": (
        "Members may change name, timezone, locale, phone, marketing_opt_in, and email "
        "(with current_password). Admins may also change plan and role (body as "
        "UserAdminUpdateIn). Any other key is a 400."
    ),
    "responses": {200: enveloped(UserOut), **problems(400, 401, 404, 409, 429)},
}
_DELETE_DOC = {
    "tags": ["users"],
    "summary": "Deactivate the user and revoke every token",
    "responses": {204: None, **problems(401, 404, 409, 429)},
}


class UserDetailView(_UserDetailBase):
    """One user by id: the caller themselves, or anyone for an admin; others read as 404."""

    @extend_schema(
        tags=["users"],
        summary="A user (self or admin)",
        responses={200: enveloped(UserOut), **problems(401, 404, 429)},
    )
    def get(self, request: Request, pk: int) -> Response:
        return self._retrieve(request, pk)

    @extend_schema(summary="Update a user (self or admin)", **_UPDATE_DOC)
    def patch(self, request: Request, pk: int) -> Response:
        return self._update(request, pk)

    @extend_schema(summary="Update a user (self or admin; same as PATCH)", **_UPDATE_DOC)
    def put(self, request: Request, pk: int) -> Response:
        return self._update(request, pk)

    @extend_schema(**_DELETE_DOC)
    def delete(self, request: Request, pk: int) -> Response:
        return self._destroy(request, pk)


class UserMeView(_UserDetailBase):
    """The caller's own account."""

    @extend_schema(
        tags=["users"],
        summary="The caller's account",
        responses={200: enveloped(UserOut), **problems(401, 429)},
    )
    def get(self, request: Request) -> Response:
        return self._retrieve(request, None)

    @extend_schema(summary="Update the caller's account", **_UPDATE_DOC)
    def patch(self, request: Request) -> Response:
        return self._update(request, None)

    @extend_schema(summary="Update the caller's account (same as PATCH)", **_UPDATE_DOC)
    def put(self, request: Request) -> Response:
        return self._update(request, None)

    @extend_schema(**_DELETE_DOC)
    def delete(self, request: Request) -> Response:
        return self._destroy(request, None)

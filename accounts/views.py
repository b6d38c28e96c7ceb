"""Auth (JWT obtain/refresh/verify/logout-all) and the users API. Views only translate."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
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
)
from accounts.services import (
    user_create,
    user_deactivate,
    user_logout_all,
    user_set_role,
    user_update,
)
from accounts.tokens import refresh_rotate, token_pair_for, token_verify
from core.idempotency import idempotent_create
from core.schema import problems
from core.views import LimitFirstMixin, authenticated_user

# Wording for the problems whose meaning is particular to accounts.
PROBLEM_WORDING = {
    403: "Authenticated but not an admin.",
    404: "No such user, or not yours to see.",
    409: "Email taken, or the last active admin would be lost.",
    503: "Rate limiter unavailable (auth fails closed); retry after Retry-After.",
}
# 401 wording of the auth endpoints, where the credentials come in the body.
REFUSED = {
    "login": "Wrong email or password, or an inactive account (all read the same).",
    "jwt": "The token is malformed, expired, already used, blacklisted or revoked.",
}
AUTH_LIMIT_DOC = (
    " Limited to 10 requests a minute per client (scope `auth`); while the limiter is "
    "unavailable these endpoints answer 503 rather than run unlimited."
)


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
    description=(
        "Exchange an email and password for a short-lived access token (send it as "
        "`Authorization: Bearer <access>`) and a single-use refresh token. A wrong password, "
        "an unknown email and an inactive account all answer the same 401." + AUTH_LIMIT_DOC
    ),
    request=TokenObtainIn,
    responses={
        200: TokenPairOut,
        **problems(401, 503, descriptions={**PROBLEM_WORDING, 401: REFUSED["login"]}),
    },
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
    description=(
        "Trade a refresh token for a new access/refresh pair. Each refresh token works once: "
        "the one sent is blacklisted, so keep the new one." + AUTH_LIMIT_DOC
    ),
    request=TokenRefreshIn,
    responses={
        200: TokenPairOut,
        **problems(401, 503, descriptions={**PROBLEM_WORDING, 401: REFUSED["jwt"]}),
    },
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
    description=(
        "Answers 200 `{valid: true}` when the access or refresh token is well signed, "
        "unexpired, not blacklisted and not revoked by a logout-all or password change; "
        "otherwise 401." + AUTH_LIMIT_DOC
    ),
    request=TokenVerifyIn,
    responses={
        200: TokenVerifyOut,
        **problems(401, 503, descriptions={**PROBLEM_WORDING, 401: REFUSED["jwt"]}),
    },
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
    description=(
        "Revokes every token issued to the caller so far, on every device, including the "
        "access token of this request. Returns how many refresh tokens were revoked; log in "
        "again for a new pair." + AUTH_LIMIT_DOC
    ),
    request=None,
    responses={200: LogoutAllOut, **problems(503, descriptions=PROBLEM_WORDING)},
)
class LogoutAllView(LimitFirstMixin, APIView):
    """Bump the caller's token_version and blacklist their outstanding refresh tokens."""

    throttle_scope = "auth"
    permission_classes = [permissions.IsAuthenticated]

    def post(self, request: Request) -> Response:
        revoked = user_logout_all(user=authenticated_user(request.user))
        return Response({"refresh_tokens_revoked": revoked})


# --------------------------------------------------------------------------- users


class UserListCreateView(LimitFirstMixin, GenericAPIView[Any]):
    """Admins only: page list (`?page=&page_size=`, filters) and creation."""

    permission_classes = [permissions.IsAuthenticated, IsAdminRole]
    serializer_class = UserOut
    queryset = User.objects.none()

    @extend_schema(
        tags=["users"],
        summary="List users (admin)",
        description=(
            "Admins only: every account, by id, in pages of `page_size` (default 20). Filter "
            "by `role`, `is_active`, or a `search` substring of the email or name."
        ),
        operation_id="users_list",
        parameters=[
            OpenApiParameter("page", int, description="1-based page number."),
            OpenApiParameter("page_size", int, description="Users per page: 1-100, default 20."),
            OpenApiParameter("role", str, enum=User.Role.values),
            OpenApiParameter("is_active", bool),
            OpenApiParameter("search", str, description="substring of email or name"),
        ],
        responses={200: UserOut(many=True), **problems(403, descriptions=PROBLEM_WORDING)},
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
        description=(
            "Admins only. The password must pass the password rules (length, not too common, "
            "not all digits, not like the email); `role` defaults to member. An email already "
            "in use is a 409."
        ),
        request=UserCreateIn,
        responses={201: UserOut, **problems(403, 409, descriptions=PROBLEM_WORDING)},
    )
    @idempotent_create
    def post(self, request: Request) -> Response:
        serializer = UserCreateIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_create(**serializer.validated_data)
        location = reverse("user-detail", kwargs={"pk": user.pk})
        return Response(
            UserOut(user).data, status=status.HTTP_201_CREATED, headers={"Location": location}
        )


class _UserDetailBase(LimitFirstMixin, GenericAPIView[Any]):
    """Self or admin; anyone else gets 404 (no way to probe which ids exist)."""

    permission_classes = [permissions.IsAuthenticated]
    serializer_class = UserOut
    queryset = User.objects.none()

    def target(self, request: Request, pk: int | None) -> User:
        viewer = authenticated_user(request.user)
        if pk is None:
            return viewer
        return user_get_visible(user_id=pk, viewer=viewer)

    def _retrieve(self, request: Request, pk: int | None) -> Response:
        return Response(UserOut(self.target(request, pk)).data)

    def _update(self, request: Request, pk: int | None) -> Response:
        user = self.target(request, pk)
        viewer = authenticated_user(request.user)
        context = {"user": user, "is_self": user.pk == viewer.pk}
        serializer: UserAdminUpdateIn | UserSelfUpdateIn
        if viewer.is_admin:
            serializer = UserAdminUpdateIn(data=request.data, context=context)
        else:
            serializer = UserSelfUpdateIn(data=request.data, context=context)
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


# extend_schema keyword arguments shared by PATCH and PUT, and by both DELETEs.
_UPDATE_DOC: dict[str, Any] = {
    "tags": ["users"],
    "request": UserSelfUpdateIn,
    "description": (
        "Members may change name, timezone, locale, phone, marketing_opt_in, and email. "
        "Changing one's own email needs current_password, for every role. Admins may also "
        "change plan and role (body as UserAdminUpdateIn). Any other key is a 400."
    ),
    "responses": {200: UserOut, **problems(409, descriptions=PROBLEM_WORDING)},
}
_DELETE_DOC: dict[str, Any] = {
    "tags": ["users"],
    "summary": "Deactivate the user and revoke every token",
    "description": (
        "The account can no longer log in and every token issued to it stops working; its "
        "data is kept. Deactivating the last active admin is a 409."
    ),
    "responses": {204: None, **problems(409, descriptions=PROBLEM_WORDING)},
}


class UserDetailView(_UserDetailBase):
    """One user by id: the caller themselves, or anyone for an admin; others read as 404."""

    @extend_schema(
        tags=["users"],
        summary="A user (self or admin)",
        description=(
            "A user may read their own account by id; admins may read any. Any other id "
            "answers 404, whether or not it exists."
        ),
        responses={200: UserOut, **problems(404, descriptions=PROBLEM_WORDING)},
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
        description="The account the access token belongs to.",
        responses={200: UserOut},
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

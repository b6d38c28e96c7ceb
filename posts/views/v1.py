"""API v1 (deprecated): page-number lists with author and category always embedded.

Every response announces the successor: `Deprecation` (RFC 9745), `Sunset` (RFC 8594) and
`Link: </api/v2/posts>; rel="successor-version"`. Pages and details are cached
POSTS_V1_CACHE_SECONDS under generation keys.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import Http404
from django.utils.http import http_date
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from core.pagination import PageNumberPagination
from core.renderers import EnvelopeResponse
from core.views import LimitFirstMixin
from posts import keys
from posts.cache import cache_fetch
from posts.queries import V1_SELECTION, is_staff
from posts.selectors import post_detail, post_published_values
from posts.serializers import PostV1Out
from posts.services import post_view_record
from posts.shaping import shape_rows
from posts.views.common import IsEditorOrReadOnly

User = get_user_model()

PAGE_PARAMETERS = [
    OpenApiParameter("page", OpenApiTypes.INT, description="1-based page number."),
    OpenApiParameter(
        "page_size", OpenApiTypes.INT, description="Posts per page: 1-100, default 20."
    ),
]
V1_HEADERS_DOC = (
    " Deprecated: every response carries `Deprecation`, `Sunset` and "
    '`Link: </api/v2/posts>; rel="successor-version"`; move to /api/v2/posts.'
)


def _epoch(moment: str) -> int:
    return int(datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp())


def deprecation_headers() -> dict[str, str]:
    return {
        # RFC 9745: a structured-field date, "@" + Unix seconds.
        "Deprecation": f"@{_epoch(settings.POSTS_V1_DEPRECATED_AT)}",
        # RFC 8594: an HTTP-date.
        "Sunset": http_date(_epoch(settings.POSTS_V1_SUNSET)),
        "Link": '</api/v2/posts>; rel="successor-version"',
    }


class V1Base(LimitFirstMixin, GenericAPIView[Any]):
    api_version = "v1"
    throttle_scope = "default"
    permission_classes = [IsEditorOrReadOnly]
    serializer_class = PostV1Out
    pagination_class = None

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        for name, value in deprecation_headers().items():
            response[name] = value
        return response

    def paged(
        self,
        request: Request,
        *,
        kind: str,
        generation_keys: list[str],
        author_id: int | None = None,
    ) -> Response:
        query = {
            "page": request.query_params.get("page", "1"),
            "page_size": request.query_params.get("page_size", ""),
            "author": author_id or "",
        }

        def build() -> dict[str, Any]:
            paginator = PageNumberPagination()
            rows = paginator.paginate_queryset(
                post_published_values(author_id=author_id), request, view=self
            )
            return {
                "data": shape_rows(list(rows or []), selection=V1_SELECTION),
                "meta": {"pagination": paginator.pagination_meta()},
            }

        payload = cache_fetch(
            kind=kind,
            generation_keys=generation_keys,
            query=query,
            ttl_seconds=settings.POSTS_V1_CACHE_SECONDS,
            build=build,
        )
        return EnvelopeResponse(payload["data"], meta=payload["meta"])

    def detail(
        self, request: Request, *, generation_key: str, query: dict[str, Any], **lookup: Any
    ) -> Response:
        def build() -> dict[str, Any]:
            return post_detail(user=request.user, selection=V1_SELECTION, **lookup)

        if is_staff(request.user):  # may see drafts: never from (or into) the shared cache
            post = build()
        else:
            post = cache_fetch(
                kind="v1-detail",
                generation_keys=[generation_key],
                query=query,
                ttl_seconds=settings.POSTS_V1_CACHE_SECONDS,
                build=build,
            )
        post_view_record(post_id=int(post["id"]))
        return Response(post)


class PostListV1View(V1Base):
    @extend_schema(
        tags=["posts v1"],
        operation_id="posts_v1_list",
        summary="Published posts, newest first (deprecated: use /api/v2/posts)",
        description=(
            "Published posts with their author, category and tags embedded, in pages of "
            "`page_size` (default 20). A page past the last one is a 404." + V1_HEADERS_DOC
        ),
        parameters=PAGE_PARAMETERS,
        responses={200: PostV1Out(many=True)},
        deprecated=True,
        auth=[],
    )
    def get(self, request: Request) -> Response:
        return self.paged(request, kind="v1-page", generation_keys=[keys.generation_list()])


class PostDetailV1View(V1Base):
    @extend_schema(
        tags=["posts v1"],
        operation_id="posts_v1_retrieve",
        summary="One post by id (deprecated)",
        description=(
            "A published post with its author, category and tags embedded (editors and "
            "admins also see drafts). Each read counts a view." + V1_HEADERS_DOC
        ),
        responses={200: PostV1Out},
        deprecated=True,
        auth=[],
    )
    def get(self, request: Request, pk: int) -> Response:
        return self.detail(
            request, generation_key=keys.generation_post(pk), query={"id": pk}, post_id=pk
        )


class PostBySlugV1View(V1Base):
    @extend_schema(
        tags=["posts v1"],
        operation_id="posts_v1_by_slug",
        summary="One post by slug (deprecated)",
        description=("Like the lookup by id, addressed by the post's URL slug." + V1_HEADERS_DOC),
        responses={200: PostV1Out},
        deprecated=True,
        auth=[],
    )
    def get(self, request: Request, slug: str) -> Response:
        # Any post change bumps the list generation, which covers slug renames too.
        return self.detail(
            request, generation_key=keys.generation_list(), query={"slug": slug}, slug=slug
        )


class UserPostsV1View(V1Base):
    @extend_schema(
        tags=["posts v1"],
        operation_id="posts_v1_user_posts",
        summary="Published posts of one user (deprecated)",
        description=(
            "The published posts of one active user, newest first, in pages like the post "
            "list. An unknown or inactive user is a 404." + V1_HEADERS_DOC
        ),
        parameters=PAGE_PARAMETERS,
        responses={200: PostV1Out(many=True)},
        deprecated=True,
        auth=[],
    )
    def get(self, request: Request, user_id: int) -> Response:
        if not User.objects.filter(pk=user_id, is_active=True).exists():
            raise Http404("No such user.")
        return self.paged(
            request,
            kind="v1-author-page",
            generation_keys=[keys.generation_author(user_id)],
            author_id=user_id,
        )

"""API v2: cursor pages, `?fields=`, `?include=`, filters; editors write here.

Unknown query parameters are a 400 `unknown_parameter`. Pages are cached
POSTS_V2_CACHE_SECONDS under a normalized query key that carries the list generation.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from core.fields import reject_unknown_parameters, selection_patterns
from core.idempotency import idempotent_create
from core.renderers import EnvelopeResponse
from core.schema import problems
from core.views import LimitFirstMixin
from posts import keys
from posts.cache import cache_fetch
from posts.queries import (
    PUBLIC_POLICY,
    V2_DETAIL_PARAMS,
    V2_LIST_PARAMS,
    audience_of,
    is_staff,
    selection_for,
    v2_list_query_parse,
)
from posts.selectors import post_detail, post_page_v2
from posts.serializers import PostCreateIn, PostUpdateIn, PostV2Out
from posts.services import post_create, post_delete, post_publish, post_update, post_view_record
from posts.views.common import IsEditorOrReadOnly

SELECTION_PATTERNS = selection_patterns(PUBLIC_POLICY)
SELECTION_PARAMETERS = [
    OpenApiParameter(
        "fields",
        {"type": "string", "pattern": SELECTION_PATTERNS["fields"]},
        description="Comma-separated fields, e.g. `id,title,slug` or `id,author.name`. "
        "Editors and admins may also select `status`, `created_at` and `view_count`. "
        "Unknown or non-public fields are a 400 listing the allowed ones.",
    ),
    OpenApiParameter(
        "include",
        {"type": "string", "pattern": SELECTION_PATTERNS["include"]},
        description="Relations to embed: `category`, `author`, `tags` (otherwise ids).",
    ),
]
LIST_PARAMETERS = [
    OpenApiParameter("limit", OpenApiTypes.INT, description="1-100, default 20."),
    OpenApiParameter("cursor", OpenApiTypes.STR, description="Opaque `meta.cursor.next`/`prev`."),
    OpenApiParameter(
        "ordering",
        OpenApiTypes.STR,
        enum=["-published_at", "published_at"],
        description="Default -published_at.",
    ),
    OpenApiParameter("category", OpenApiTypes.STR, description="Category slug."),
    OpenApiParameter("author", OpenApiTypes.INT, description="Author user id."),
    OpenApiParameter("tag", OpenApiTypes.STR, description="Tag slug."),
    OpenApiParameter("published_after", OpenApiTypes.DATETIME),
    OpenApiParameter("published_before", OpenApiTypes.DATETIME),
    *SELECTION_PARAMETERS,
]
SLUG_TAKEN = problems(409, descriptions={409: "Another post already has this slug."})


class V2Base(LimitFirstMixin, GenericAPIView[Any]):
    api_version = "v2"
    throttle_scope = "default"
    permission_classes = [IsEditorOrReadOnly]
    serializer_class = PostV2Out
    pagination_class = None

    def written(
        self, request: Request, post_id: int, *, code: int = status.HTTP_200_OK
    ) -> Response:
        # Just written: read the primary, replica lag could hide it.
        selection = selection_for(user=request.user, params={})
        post = post_detail(user=request.user, selection=selection, post_id=post_id, using="default")
        return Response(post, status=code)


class PostListV2View(V2Base):
    @extend_schema(
        tags=["posts v2"],
        operation_id="posts_v2_list",
        summary="Published posts: cursor pages with field selection and includes",
        description=(
            "Published posts (editors and admins also see drafts), newest first unless "
            "`ordering` says otherwise, `limit` at a time. Follow `meta.cursor.next` and "
            "`meta.cursor.prev` to move between pages; a cursor only works with the filters "
            "and ordering it was made for. `fields` picks the fields and `include` embeds "
            "the author, category or tags. Unknown parameters are a 400."
        ),
        parameters=LIST_PARAMETERS,
        responses={200: PostV2Out(many=True)},
        auth=[],
    )
    def get(self, request: Request) -> Response:
        reject_unknown_parameters(list(request.query_params), allowed=V2_LIST_PARAMS)
        query = v2_list_query_parse(params=request.query_params, user=request.user)

        def build() -> dict[str, Any]:
            data, meta = post_page_v2(query=query)
            return {"data": data, "meta": meta}

        payload = cache_fetch(
            kind="page",
            generation_keys=[keys.generation_list()],
            query=query.cache_query(audience=audience_of(request.user)),
            ttl_seconds=settings.POSTS_V2_CACHE_SECONDS,
            build=build,
        )
        return EnvelopeResponse(payload["data"], meta=payload["meta"])

    @extend_schema(
        tags=["posts v2"],
        operation_id="posts_v2_create",
        summary="Create a post (editors and admins); `publish: true` publishes at once",
        description=(
            "Creates a draft, or a published post with `publish: true`. Without a `slug` one "
            "is made from the title. Unknown category or tag ids are a 400; a slug already "
            "in use is a 409."
        ),
        request=PostCreateIn,
        responses={201: PostV2Out, **SLUG_TAKEN},
    )
    @idempotent_create
    def post(self, request: Request) -> Response:
        serializer = PostCreateIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        post = post_create(
            by=request.user,
            title=data["title"],
            body=data["body"],
            slug=data.get("slug"),
            category_id=data["category_id"],
            tag_ids=data["tag_ids"],
            is_published=data["publish"],
        )
        response = self.written(request, post.pk, code=status.HTTP_201_CREATED)
        response["Location"] = reverse("posts-v2-detail", kwargs={"pk": post.pk})
        return response


class PostDetailV2View(V2Base):
    @extend_schema(
        tags=["posts v2"],
        operation_id="posts_v2_retrieve",
        summary="One post (drafts only for editors and admins); counts a view",
        description=(
            "One post by id with the same `fields` and `include` as the list. Drafts are a "
            "404 except for editors and admins. Each read counts a view."
        ),
        parameters=SELECTION_PARAMETERS,
        responses={200: PostV2Out},
        auth=[],
    )
    def get(self, request: Request, pk: int) -> Response:
        reject_unknown_parameters(list(request.query_params), allowed=V2_DETAIL_PARAMS)
        selection = selection_for(user=request.user, params=request.query_params)

        def build() -> dict[str, Any]:
            return post_detail(user=request.user, selection=selection, post_id=pk)

        if is_staff(request.user):  # may see drafts: never from (or into) the shared cache
            post = build()
        else:
            post = cache_fetch(
                kind="detail",
                generation_keys=[keys.generation_post(pk)],
                query={"id": pk, "selection": selection.cache_token()},
                ttl_seconds=settings.POSTS_V2_CACHE_SECONDS,
                build=build,
            )
        post_view_record(post_id=pk)
        return Response(post)

    @extend_schema(
        tags=["posts v2"],
        operation_id="posts_v2_update",
        summary="Change a post (editors and admins)",
        description=(
            "Changes only the fields sent; `tag_ids` replaces the whole tag list. A slug "
            "already in use by another post is a 409."
        ),
        request=PostUpdateIn,
        responses={200: PostV2Out, **SLUG_TAKEN},
    )
    def patch(self, request: Request, pk: int) -> Response:
        serializer = PostUpdateIn(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        tag_ids = changes.pop("tag_ids", None)
        post_update(post_id=pk, by=request.user, changes=changes, tag_ids=tag_ids)
        return self.written(request, pk)

    @extend_schema(
        tags=["posts v2"],
        operation_id="posts_v2_delete",
        summary="Delete a post (editors and admins)",
        description=(
            "Deletes the post and its tag links for good; it leaves the lists and the sitemap."
        ),
        responses={204: OpenApiResponse(description="Deleted.")},
    )
    def delete(self, request: Request, pk: int) -> Response:
        post_delete(post_id=pk, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PostPublishV2View(V2Base):
    @extend_schema(
        tags=["posts v2"],
        operation_id="posts_v2_publish",
        summary="Publish a draft (editors and admins); publishing twice changes nothing",
        description=(
            "Makes a draft public and stamps `published_at`. Publishing a post that is "
            "already published answers 200 and keeps its first `published_at`."
        ),
        request=None,
        responses={200: PostV2Out},
    )
    def post(self, request: Request, pk: int) -> Response:
        post_publish(post_id=pk, by=request.user)
        return self.written(request, pk)

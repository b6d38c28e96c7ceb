"""Page-number pagination: `?page=&page_size=` (20, max 100), `meta.pagination`."""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from core.params import is_plain_int
from core.renderers import EnvelopeResponse


class PageNumberPagination(pagination.PageNumberPagination):
    page_size = settings.API_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = settings.API_MAX_PAGE_SIZE

    def get_page_size(self, request: Any) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not is_plain_int(raw):
            raise ValidationError({"page_size": ["Must be an integer."]})
        size = int(raw)
        if not 1 <= size <= self.max_page_size:
            raise ValidationError({"page_size": [f"Must be between 1 and {self.max_page_size}."]})
        return size

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> list[Any] | None:
        raw = request.query_params.get(self.page_query_param, "1")
        if not is_plain_int(raw) or int(raw) < 1:
            raise ValidationError({"page": ["Must be a positive integer."]})
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data: Any) -> Response:
        return EnvelopeResponse(data, meta={"pagination": self.pagination_meta()})

    def pagination_meta(self) -> dict[str, int]:
        page = self.page
        if page is None:
            raise RuntimeError("pagination_meta() needs paginate_queryset() first")
        total = page.paginator.count
        size = page.paginator.per_page
        return {
            "page": page.number,
            "page_size": size,
            "total": total,
            "total_pages": max(1, math.ceil(total / size)) if size else 1,
        }

"""What `OPTIONS` answers on every API view.

DRF's SimpleMetadata describes the PUT/POST input by calling `view.get_object()` and
`view.get_serializer()`; our views load objects through selectors (no `queryset` or lookup
kwargs to get_object) and declare output serializers, so that raised AssertionError: a 500
for any logged-in user on every detail endpoint. The OpenAPI schema (/api/schema/) is the
description of each operation; OPTIONS says which methods exist (the `Allow` header DRF
sets) and what the view renders and parses, and never touches an object.
"""

from __future__ import annotations

from typing import Any

from rest_framework.metadata import BaseMetadata
from rest_framework.request import Request


class ApiMetadata(BaseMetadata):
    def determine_metadata(self, request: Request, view: Any) -> dict[str, Any]:
        return {
            "name": view.get_view_name(),
            "description": view.get_view_description(),
            "renders": [renderer.media_type for renderer in view.renderer_classes],
            "parses": [parser.media_type for parser in view.parser_classes],
            "schema": "/api/schema/",
        }

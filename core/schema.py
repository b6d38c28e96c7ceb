"""OpenAPI generation for every API view: the schema says what the API really does.

`ApiAutoSchema` (REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]) post-processes each operation once,
so no view repeats these rules:

- 2xx JSON bodies are wrapped in the `{data, meta}` envelope core.renderers sends (not for
  views with `envelope = False`). A list's meta carries `pagination` (page-number lists) or
  `cursor` + `limit` (lists with a `cursor` parameter).
- Problem responses are added where they can happen and always documented as
  application/problem+json with the one `ProblemOut` schema: 400 (query parameters or a
  body), 401 (authenticated views), 403 (a permission class beyond "authenticated" that
  may refuse this method: see `schema_denies`), 404 (path parameters, page numbers past the
  end), 413/415 (bodies), 429 (rate-limited views), 503 (scopes whose limiter fails
  closed). Others (a 403 decided in the view, 409, 422) come from the view's
  `extend_schema(responses=problems(...))`.
- Pagination parameters carry their bounds (`page` >= 1, `page_size` and `limit` 1..100),
  and every integer query parameter the 0..18-digit range core.params.is_plain_int accepts.
- Request bodies of `StrictInputSerializer`s say `additionalProperties: false`, and their
  integers the signed 64-bit range the JSON parser (core.parsers) accepts; free strings say
  they hold no NUL character.
- Create operations whose handler is `core.idempotency.idempotent_create` (which documents
  the `Idempotency-Key` header itself) get its problems: 400, 409, 422, 503.
- Descriptions come only from `extend_schema(description=...)`: a view's docstring is for
  maintainers and never leaks into the docs.
"""

from __future__ import annotations

import copy
from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions, serializers

from core import idempotency
from core.errors import PROBLEM_CONTENT_TYPE
from core.parsers import INT_MAX, INT_MIN
from core.serializers import (
    CursorMetaOut,
    EnvelopeMetaOut,
    PageMetaOut,
    ProblemOut,
    StrictInputSerializer,
)

JSON = "application/json"

# Generic wording; a view may give its own description through problems(..., descriptions=).
PROBLEM_DESCRIPTIONS = {
    400: "Invalid input (a bad or unknown parameter or body field); see `errors`.",
    401: "Missing, invalid, expired or revoked credentials.",
    403: "Authenticated, but this role may not do this.",
    404: "No such resource, or not yours to see.",
    409: "Conflicts with the current state of the resource.",
    413: "Request body over API_MAX_BODY_BYTES.",
    415: "Request body is not application/json.",
    422: "Well-formed but cannot be processed.",
    429: "Rate limited; see Retry-After and the RateLimit headers.",
    503: "A backing service is unavailable; retry after Retry-After.",
}

# The only value core.params.is_plain_int accepts: 1 to 18 ASCII digits.
MAX_QUERY_INTEGER = 999_999_999_999_999_999

# DRF's CharField refuses NUL characters (ProhibitNullCharactersValidator).
NO_NUL_PATTERN = "^[^\\x00]*$"

# Bounds of the pagination parameters, by name (the same names everywhere in the API).
PARAMETER_BOUNDS: dict[str, dict[str, int]] = {
    "page": {"minimum": 1, "maximum": MAX_QUERY_INTEGER},
    "page_size": {"minimum": 1, "maximum": settings.API_MAX_PAGE_SIZE},
    "limit": {"minimum": 1, "maximum": settings.API_MAX_PAGE_SIZE},
}

RETRY_AFTER_HEADER = {
    "Retry-After": {
        "schema": {"type": "integer", "minimum": 1},
        "description": "Seconds to wait before retrying.",
    }
}

# Permission classes that only ever answer 401 for anonymous callers, never 403.
_AUTHENTICATION_ONLY = (permissions.AllowAny, permissions.IsAuthenticated)


def problems(*statuses: int, descriptions: dict[int, str] | None = None) -> dict[Any, Any]:
    """`extend_schema(responses={..., **problems(403, 409)})`: problem responses a view adds to
    the ones ApiAutoSchema derives, optionally with its own wording."""
    descriptions = descriptions or {}
    return {
        (status, PROBLEM_CONTENT_TYPE): OpenApiResponse(
            ProblemOut, description=descriptions.get(status, PROBLEM_DESCRIPTIONS[status])
        )
        for status in statuses
    }


class ApiAutoSchema(AutoSchema):
    # drf-spectacular's AutoSchema itself narrows DRF's get_description(path, method) to ().
    def get_description(self) -> str:  # type: ignore[override]
        # Only extend_schema(description=...) reaches the docs (it overrides this method).
        return ""

    def _get_response_for_code(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        # A list body is a plain array here; _envelope adds `meta.pagination` around it, so
        # spectacular's paginator wrapping (a second "Paginated…" component) is skipped.
        self._describing_response = True
        try:
            response: dict[str, Any] = super()._get_response_for_code(*args, **kwargs)
            return response
        finally:
            self._describing_response = False

    def _get_paginator(self) -> Any:
        if getattr(self, "_describing_response", False):
            return None
        return super()._get_paginator()

    def _map_serializer_field(self, field: Any, direction: str, *args: Any, **kwargs: Any) -> Any:
        schema = super()._map_serializer_field(field, direction, *args, **kwargs)
        if direction != "request":
            return schema
        if schema.get("type") == "integer":
            # The JSON parser refuses integers outside a signed 64-bit range (400).
            schema.setdefault("minimum", INT_MIN)
            schema.setdefault("maximum", INT_MAX)
        elif (
            isinstance(field, serializers.CharField)
            and not {"pattern", "format"} & set(schema)
            and not any(isinstance(v, RegexValidator) for v in field.validators)
        ):
            schema["pattern"] = NO_NUL_PATTERN  # DRF refuses NUL in every CharField (400)
        return schema

    def _map_basic_serializer(self, serializer: Any, direction: str) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and isinstance(serializer, StrictInputSerializer):
            schema["additionalProperties"] = False
        return schema

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        parameters = operation.get("parameters", [])
        for parameter in parameters:
            _bound_parameter(parameter)
        if getattr(self.view, "envelope", True) is not False:
            is_cursor_list = any(p["in"] == "query" and p["name"] == "cursor" for p in parameters)
            for status, response in operation["responses"].items():
                if status.startswith("2") and JSON in response.get("content", {}):
                    media = response["content"][JSON]
                    media["schema"] = self._envelope(media["schema"], cursor=is_cursor_list)
        self._add_problems(operation)
        return operation

    # ------------------------------------------------------------------ envelope

    def _component_ref(self, serializer: Any) -> dict[str, str]:
        return self.resolve_serializer(serializer, "response").ref

    def _envelope(self, inner: dict[str, Any], *, cursor: bool) -> dict[str, Any]:
        is_list = inner.get("type") == "array"
        if not is_list:
            meta, suffix = self._component_ref(EnvelopeMetaOut()), "Envelope"
        elif cursor:
            meta, suffix = self._component_ref(CursorMetaOut()), "CursorPage"
        else:
            meta, suffix = self._component_ref(PageMetaOut()), "Page"
        schema = {
            "type": "object",
            "properties": {"data": inner, "meta": meta},
            "required": ["data", "meta"],
        }
        ref = (inner.get("items") if is_list else inner) or {}
        if "$ref" not in ref:
            return schema  # an inline body: an inline envelope
        component = ResolvedComponent(
            name=ref["$ref"].rsplit("/", 1)[-1] + suffix,
            type=ResolvedComponent.SCHEMA,
            schema=schema,
            object=f"{ref['$ref']}:{suffix}",
        )
        self.registry.register_on_missing(component)
        return component.ref

    # ------------------------------------------------------------------ problems

    def _derived_problem_statuses(self, operation: dict[str, Any]) -> set[int]:
        view = self.view
        parameters = operation.get("parameters", [])
        has_body = "requestBody" in operation
        statuses: set[int] = set()
        if has_body or any(p["in"] == "query" for p in parameters):
            statuses.add(400)
        if getattr(view, "authentication_classes", None):
            statuses.add(401)  # a bad or expired token is refused, even where anyone may read
        if any(
            not issubclass(permission, _AUTHENTICATION_ONLY)
            and getattr(permission, "schema_denies", _denies_every_method)(self.method)
            for permission in getattr(view, "permission_classes", [])
        ):
            statuses.add(403)
        if any(p["in"] == "path" for p in parameters) or any(
            p["in"] == "query" and p["name"] == "page" for p in parameters
        ):
            statuses.add(404)  # no such id, or a page past the last one
        if has_body:
            statuses.update((413, 415))
        if getattr(view, "throttle_classes", None) or getattr(view, "throttle_scope", None):
            statuses.add(429)
        if getattr(view, "throttle_scope", None) in settings.RATE_LIMIT_FAIL_CLOSED_SCOPES:
            statuses.add(503)
        if self._is_idempotent_create():
            statuses.update((400, 409, 422, 503))
        return statuses

    def _is_idempotent_create(self) -> bool:
        handler = getattr(self.view, self.method.lower(), None)
        return idempotency.is_idempotent_create(handler)

    def _add_problems(self, operation: dict[str, Any]) -> None:
        responses = operation["responses"]
        declared = {int(code) for code in responses if code[0] in "45"}
        problem_ref = self._component_ref(ProblemOut())
        for status in sorted(declared | self._derived_problem_statuses(operation)):
            response = responses.setdefault(str(status), {})
            description = response.get("description") or ""
            if not description or description == PROBLEM_CONTENT_TYPE:
                description = PROBLEM_DESCRIPTIONS.get(status, "Problem details.")
            response["description"] = description
            response["content"] = {PROBLEM_CONTENT_TYPE: {"schema": problem_ref}}
            if status in (429, 503):
                response["headers"] = copy.deepcopy(RETRY_AFTER_HEADER)
        operation["responses"] = dict(sorted(responses.items()))


def _denies_every_method(method: str) -> bool:
    return True


def _bound_parameter(parameter: dict[str, Any]) -> None:
    schema = parameter.get("schema", {})
    if parameter["in"] != "query" or schema.get("type") != "integer":
        return
    schema.setdefault("minimum", 0)  # digits only: no sign
    schema.setdefault("maximum", MAX_QUERY_INTEGER)
    schema.update(PARAMETER_BOUNDS.get(parameter["name"], {}))

"""The success envelope: `{"data": ..., "meta": {"timestamp", "version", ...}}`.

Errors (problem+json) and views that declare `envelope = False` pass through untouched.
Paginated views add their own meta by answering with an `EnvelopeResponse`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response


def api_version_of(request: Any, view: Any) -> str:
    version: str | None = getattr(view, "api_version", None)
    if version:
        return version
    path = getattr(request, "path", "") or ""
    return "v2" if path.startswith("/api/v2/") else "v1"


def envelope(
    data: Any, *, version: str, extra_meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "version": version,
    }
    if extra_meta:
        meta.update(extra_meta)
    return {"data": data, "meta": meta}


class EnvelopeResponse(Response):
    """A Response whose envelope carries extra `meta` keys (pagination, cursors)."""

    def __init__(self, data: Any = None, *, meta: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.envelope_meta = meta


class EnvelopeJSONRenderer(JSONRenderer):
    charset = None  # application/json has no charset parameter (RFC 8259)

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        context = renderer_context or {}
        response = context.get("response")
        view = context.get("view")
        if (
            response is None
            or response.status_code >= 400
            or getattr(view, "envelope", True) is False
        ):
            body: bytes = super().render(data, accepted_media_type, renderer_context)
            return body
        if response.status_code == 204:
            return b""
        wrapped = envelope(
            data,
            version=api_version_of(context.get("request"), view),
            extra_meta=response.envelope_meta if isinstance(response, EnvelopeResponse) else None,
        )
        body = super().render(wrapped, accepted_media_type, renderer_context)
        return body

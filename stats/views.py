"""GET /api/stats: stored bytes out, after one Redis round trip (see stats.services)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.views import APIView

from core.client_ip import client_ip, rate_limit_subject
from core.errors import problem_response
from core.schema import problems
from core.views import LimitFirstMixin
from stats import metrics
from stats.serializers import StatsOutSerializer
from stats.services import LKG, Outcome, Snapshot, now_ms, stats_serve

_ALLOWED_METHODS = ("GET", "HEAD")


def _cache_control(snapshot: Snapshot, *, cache: str, at_ms: int) -> str:
    """Shared caches may keep a fresh copy up to STATS_HTTP_MAX_AGE_SECONDS (never past its
    freshness), serve it stale while they revalidate as long as we would, and on errors as
    long as the LKG budget allows. Stale and LKG copies get max-age=0: not stored again."""
    remaining_fresh = max(0, (snapshot.fresh_until_ms - at_ms) // 1000)
    max_age = 0 if cache == LKG else min(settings.STATS_HTTP_MAX_AGE_SECONDS, remaining_fresh)
    stale_while = max(0, (snapshot.expires_at_ms - at_ms) // 1000 - max_age)
    lkg_until_ms = snapshot.computed_at_ms + settings.STATS_LKG_MAX_AGE_SECONDS * 1000
    stale_if_error = max(0, (lkg_until_ms - at_ms) // 1000 - max_age)
    return (
        f"public, max-age={max_age}, stale-while-revalidate={stale_while}, "
        f"stale-if-error={stale_if_error}"
    )


def _matches(if_none_match: str, etag: str) -> bool:
    # Weak comparison (RFC 9110 §13.1.2): W/"x" matches "x".
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


@dataclass(frozen=True, slots=True)
class StatsReply:
    """A 200 or 304 of GET /api/stats as plain data: the Django view and the WSGI shortcut
    (config.fastpath) both build their response from it, so they cannot drift apart."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def stats_reply(
    *, subject: str, if_none_match: str | None, at_ms: int
) -> StatsReply | HttpResponse:
    """The whole request: limiter + entry in one script call, then headers on stored bytes.
    A 200/304 comes back as a StatsReply; a refusal (429) or nothing servable (503) as a
    problem response."""
    outcome: Outcome = stats_serve(subject=subject, at_ms=at_ms)
    decision = outcome.decision
    if not decision.is_allowed:
        # Per-client numbers only here: a 429 is no-store, so no shared cache keeps them.
        return problem_response(
            status=429,
            code="throttled",
            detail=f"Too many requests; retry in {max(1, decision.retry_after_seconds)} s.",
            headers=decision.headers(),
        )
    snapshot = outcome.snapshot
    if snapshot is None:
        metrics.unavailable()
        return problem_response(
            status=503,
            code="stats_unavailable",
            detail="Statistics are being computed; retry in a second.",
            headers={"Retry-After": "1"},
        )
    metrics.served(result=outcome.cache)
    headers = [
        ("ETag", snapshot.etag),
        ("Cache-Control", _cache_control(snapshot, cache=outcome.cache, at_ms=at_ms)),
        ("X-Cache", outcome.cache),
        ("X-Cache-Age", str(snapshot.age_seconds(at_ms))),
    ]
    if if_none_match and _matches(if_none_match, snapshot.etag):
        return StatsReply(status=304, headers=headers, body=b"")
    return StatsReply(status=200, headers=headers, body=snapshot.body)


def stats_subject(ip: str) -> str:
    """The limiter subject of a client address (core.client_ip: behind the trusted proxies)."""
    return f"ip:{rate_limit_subject(ip)}"


def stats_response(request: HttpRequest) -> HttpResponse:
    """GET /api/stats through Django (the path the WSGI shortcut takes the place of)."""
    reply = stats_reply(
        subject=stats_subject(client_ip(request)),
        if_none_match=request.META.get("HTTP_IF_NONE_MATCH"),
        at_ms=now_ms(),
    )
    if isinstance(reply, HttpResponse):
        return reply
    response: HttpResponse
    if reply.status == 304:
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(reply.body, content_type="application/json")
    for name, value in reply.headers:
        response[name] = value
    return response


class StatsView(LimitFirstMixin, APIView):
    """GET /api/stats.

    Declared as an APIView (schema, project conventions) but `dispatch` hands the plain
    Django request straight to `stats_response`: no DRF request wrapping, negotiation,
    authentication or throttle classes. The `stats` limit is decided inside the entry
    script (same GCRA, policy and key as core.limiter) so the hot path is one round trip.
    Measured in bench/stats_bench.py against the full DRF path.
    """

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []
    throttle_classes: list[Any] = []
    throttle_scope = "stats"  # decided by the entry script, with core.limiter's policy and key
    rate_limit_headers = False  # shared caches store the 200; limits go on the 429 only
    envelope = False

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method not in _ALLOWED_METHODS:
            return problem_response(
                status=405,
                code="method_not_allowed",
                detail=f'Method "{request.method}" not allowed.',
                headers={"Allow": ", ".join(_ALLOWED_METHODS)},
            )
        return stats_response(request)

    @extend_schema(
        operation_id="stats_retrieve",
        summary="Platform statistics",
        description=(
            "Public and cached: served from a shared entry refreshed in the background, so the "
            "numbers may be up to a few minutes old (`X-Cache-Age`). `X-Cache` tells HIT, STALE, "
            "MISS or LKG (last-known-good copy during an outage). Strong `ETag`: send it back in "
            "`If-None-Match` for a 304. Rate limited per client IP (scope `stats`, 60/min): a "
            "refusal is 429 with `Retry-After` and the rate-limit headers."
        ),
        tags=["stats"],
        auth=[],
        parameters=[
            OpenApiParameter(
                name="If-None-Match",
                type=OpenApiTypes.STR,
                location=OpenApiParameter.HEADER,
                required=False,
                description="ETag of a copy the client holds; a match answers 304.",
            )
        ],
        responses={
            200: StatsOutSerializer,
            304: OpenApiResponse(description="Not modified: the client's copy is current."),
            **problems(503, descriptions={503: "Nothing servable yet; retry after 1 s."}),
        },
    )
    def get(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponse:
        return stats_response(getattr(request, "_request", request))

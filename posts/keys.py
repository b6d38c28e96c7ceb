"""Every Redis key the posts app uses, in one place (`posts:v1:<kind>:…`)."""

from __future__ import annotations

# Coordination Redis (never evicted).
VIEWS_HASH = "posts:v1:views"  # post id → pending view delta (HINCRBY per detail GET)
VIEWS_FLUSHING_HASH = "posts:v1:views:flushing"  # taken by one flush (RENAMENX), then applied
VIEWS_FLUSH_TOKEN_FIELD = "__token"  # noqa: S105 (not a secret) ledger token written into the taken hash
SITEMAP_PENDING = "posts:v1:sitemap:pending"  # a coalesced regeneration is already scheduled
FLUSH_LOCK = "posts:v1:views:lock"


def generation_list() -> str:
    """All list pages (v1 pages and v2 cursor pages)."""
    return "posts:v1:gen:list"


def generation_post(post_id: int) -> str:
    return f"posts:v1:gen:post:{post_id}"


def generation_author(author_id: int) -> str:
    """The author's post list (/api/v1/users/{id}/posts)."""
    return f"posts:v1:gen:author:{author_id}"


# Cache Redis (disposable): keys carry the generations they were filled under, e.g.
# posts:v1:page:{gen}:{query_hash}, posts:v1:detail:{gen}:{query_hash}.
def cache_key(*, kind: str, generations: list[int], query_hash: str) -> str:
    return f"posts:v1:{kind}:{'.'.join(map(str, generations))}:{query_hash}"

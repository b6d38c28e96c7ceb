from __future__ import annotations

from django.urls import path

from posts.views import v1, v2

urlpatterns = [
    path("v1/posts", v1.PostListV1View.as_view(), name="posts-v1-list"),
    path("v1/posts/<int:pk>", v1.PostDetailV1View.as_view(), name="posts-v1-detail"),
    path("v1/posts/by-slug/<slug:slug>", v1.PostBySlugV1View.as_view(), name="posts-v1-by-slug"),
    path("v1/users/<int:user_id>/posts", v1.UserPostsV1View.as_view(), name="posts-v1-user-posts"),
    path("v2/posts", v2.PostListV2View.as_view(), name="posts-v2-list"),
    path("v2/posts/<int:pk>", v2.PostDetailV2View.as_view(), name="posts-v2-detail"),
    path("v2/posts/<int:pk>/publish", v2.PostPublishV2View.as_view(), name="posts-v2-publish"),
]

from __future__ import annotations

from django.urls import path

from accounts import views

urlpatterns = [
    path("v1/auth/token", views.TokenObtainView.as_view(), name="auth-token"),
    path("v1/auth/token/refresh", views.TokenRefreshRotateView.as_view(), name="auth-refresh"),
    path("v1/auth/token/verify", views.TokenVerifyCheckView.as_view(), name="auth-verify"),
    path("v1/auth/logout-all", views.LogoutAllView.as_view(), name="auth-logout-all"),
    path("v1/users", views.UserListCreateView.as_view(), name="user-list"),
    path("v1/users/me", views.UserMeView.as_view(), name="user-me"),
    path("v1/users/<int:pk>", views.UserDetailView.as_view(), name="user-detail"),
]

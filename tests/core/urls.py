"""Test-only URLconf exercising the shared API plumbing with tiny views."""

from __future__ import annotations

from django.db import connections
from django.urls import path
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from config.db_router import PrimaryReplicaRouter
from core.errors import Conflict
from core.views import LimitFirstMixin


class ItemIn(serializers.Serializer):
    title = serializers.CharField(max_length=10)
    sizes = serializers.ListField(child=serializers.IntegerField(), required=False)


class OrderIn(serializers.Serializer):
    items = ItemIn(many=True)

    def validate(self, attrs: dict) -> dict:
        if len(attrs["items"]) > 2:
            raise serializers.ValidationError("At most two items.")
        return attrs


class EchoView(LimitFirstMixin, APIView):
    permission_classes = [AllowAny]
    throttle_scope = "default"

    def get(self, request):
        return Response({"ok": True})

    def post(self, request):
        serializer = OrderIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data, status=201)


class ConflictView(LimitFirstMixin, APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise Conflict("Already done.", code="already_done")


class BoomView(LimitFirstMixin, APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError("SELECT secret FROM internal -- must never reach a client")


class PrivateView(LimitFirstMixin, APIView):
    permission_classes = [IsAuthenticated]
    throttle_scope = "slow"

    def get(self, request):
        return Response({"read_alias": PrimaryReplicaRouter().db_for_read(User)})

    def post(self, request):
        User.objects.filter(pk=request.user.pk).update(name="written")
        return Response({"written": True})


class ReplicaCountView(LimitFirstMixin, APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        alias = PrimaryReplicaRouter().db_for_read(User)
        return Response({"alias": alias, "users": User.objects.using(alias).count()})


def _close_all() -> None:
    for alias in connections:
        connections[alias].close()


handler404 = "core.errors.page_not_found"
handler500 = "core.errors.server_error"

urlpatterns = [
    path("api/v1/echo", EchoView.as_view()),
    path("api/v2/echo", EchoView.as_view()),
    path("api/v1/conflict", ConflictView.as_view()),
    path("api/v1/boom", BoomView.as_view()),
    path("api/v1/private", PrivateView.as_view()),
    path("api/v1/replica-count", ReplicaCountView.as_view()),
]

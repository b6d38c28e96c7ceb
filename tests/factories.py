from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from rest_framework_simplejwt.tokens import RefreshToken


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Faker("name")
    role = "member"
    password = factory.django.Password("pass-Word-123")


def access_token_for(user) -> str:
    from accounts.tokens import refresh_token_for

    return str(refresh_token_for(user).access_token)


__all__ = ["RefreshToken", "UserFactory", "access_token_for"]

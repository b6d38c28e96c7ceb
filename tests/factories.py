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

    @factory.post_generation
    def role_group(obj, create: bool, extracted: bool | None, **kwargs: object) -> None:
        """`UserFactory(role_group=True)`: also in the role's group, as accounts.services puts
        every user it creates (the personas use it; most tests need no group)."""
        if create and extracted:
            from django.contrib.auth.models import Group

            obj.groups.add(Group.objects.get_or_create(name=obj.role)[0])


def access_token_for(user) -> str:
    from accounts.tokens import refresh_token_for

    return str(refresh_token_for(user).access_token)


def api_client_for(user=None, *, tokens=None, **client_options):
    """The one way tests get an API client: anonymous without a user, else authenticated as
    `user` with a real login pair (accounts.tokens.token_pair_for, what POST /auth/token
    issues): `client.tokens` holds {"access", "refresh"}, `client.user` the user.
    `tokens` instead uses a pair the test obtained itself (e.g. by logging in through the
    API); `client_options` go to APIClient (e.g. raise_request_exception=False)."""
    from rest_framework.test import APIClient

    from accounts.tokens import token_pair_for

    client = APIClient(**client_options)
    if user is not None:
        client.tokens = tokens or token_pair_for(user)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {client.tokens['access']}")
        client.user = user
    return client


__all__ = ["RefreshToken", "UserFactory", "access_token_for", "api_client_for"]

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from posts.models import Category, Post, PostTag, Subscription, Tag
from tests.factories import UserFactory


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag

    name = factory.Sequence(lambda n: f"Tag {n}")
    slug = factory.Sequence(lambda n: f"tag-{n}")


class PostFactory(factory.django.DjangoModelFactory):
    """A published post written straight to the table (no services, no events)."""

    class Meta:
        model = Post
        skip_postgeneration_save = True

    author = factory.SubFactory(UserFactory, role="editor")
    category = factory.SubFactory(CategoryFactory)
    title = factory.Sequence(lambda n: f"Post {n}")
    slug = factory.Sequence(lambda n: f"post-{n}")
    body = "Body text"
    status = Post.Status.PUBLISHED
    published_at = factory.Sequence(lambda n: timezone.now() - timedelta(minutes=n))

    @factory.post_generation
    def tags(self, create: bool, extracted: list | None, **kwargs: object) -> None:
        if create and extracted:
            PostTag.objects.bulk_create(
                [
                    PostTag(post=self, tag=tag, status=self.status, published_at=self.published_at)
                    for tag in extracted
                ]
            )


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    user = factory.SubFactory(UserFactory)

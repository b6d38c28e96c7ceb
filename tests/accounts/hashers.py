"""A fast stand-in for "the preferred hasher changed" (Django rehashes on the next login)."""

from __future__ import annotations

from django.contrib.auth.hashers import MD5PasswordHasher


class UpgradedMD5PasswordHasher(MD5PasswordHasher):
    algorithm = "md5-upgraded"

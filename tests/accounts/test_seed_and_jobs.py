from __future__ import annotations

from datetime import timedelta
from io import StringIO

from django.core.management import call_command
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.jobs import flush_expired_tokens
from accounts.models import User
from accounts.seeding import DEMO_EMAIL, DEMO_PASSWORD
from accounts.tokens import refresh_token_for, tokens_flush_expired


def test_seed_demo_users_small_run(db):
    out = StringIO()
    call_command("seed_demo", "--users", "250", stdout=out)
    assert "seed_demo: 250 users" in out.getvalue()
    assert User.objects.count() == 250
    demo = User.objects.get(email=DEMO_EMAIL)
    assert demo.check_password(DEMO_PASSWORD)
    assert (demo.role, demo.is_staff, demo.is_superuser) == ("admin", True, True)
    assert list(demo.groups.values_list("name", flat=True)) == ["admin"]
    members = User.objects.filter(role="member")
    assert members.count() == 248  # 250 less the demo admin and the demo editor
    assert members.filter(groups__name="member").count() == 248
    assert members.filter(email__endswith="@demo.example.com").first().check_password(DEMO_PASSWORD)
    # a second run adds more users without colliding on email, and no second demo admin
    call_command("seed_demo", "--users", "50", stdout=StringIO())
    assert User.objects.count() == 300
    assert User.objects.filter(email=DEMO_EMAIL).count() == 1
    assert User.objects.values("email").distinct().count() == 300


def test_flush_expired_tokens_deletes_only_expired_in_chunks(db, member):
    live = refresh_token_for(member)
    expired = [refresh_token_for(member) for _ in range(5)]
    OutstandingToken.objects.filter(jti__in=[t["jti"] for t in expired]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    BlacklistedToken.objects.create(token=OutstandingToken.objects.get(jti=expired[0]["jti"]))
    assert tokens_flush_expired(chunk_size=2) == 5
    assert list(OutstandingToken.objects.values_list("jti", flat=True)) == [live["jti"]]
    assert not BlacklistedToken.objects.exists()
    assert flush_expired_tokens.delay().get() == 0  # the beat job; nothing left
    later = timezone.now() + timedelta(days=8)  # injected clock: past the refresh TTL
    assert tokens_flush_expired(now=later) == 1


def test_seed_demo_makes_one_login_per_role(db):
    from accounts.seeding import DEMO_ACCOUNTS

    call_command("seed_demo", "--users", "10", stdout=StringIO())
    roles = {}
    for account in DEMO_ACCOUNTS:
        user = User.objects.get(email=account.email)
        assert user.check_password(account.password), account.email
        assert user.groups.filter(name=user.role).exists()
        roles[user.role] = (user.is_staff, user.is_superuser)
    assert roles == {"admin": (True, True), "editor": (False, False), "member": (False, False)}
    assert User.objects.count() == 10


def test_seed_progress_outside_a_terminal_is_one_line_per_step(db):
    out = StringIO()  # not a terminal, like `make run`'s log or a pipe
    call_command("seed_demo", "--users", "3", "--posts", "2", stdout=out)
    text = out.getvalue()
    assert "\r" not in text
    assert text.splitlines() == [
        "seed_demo: users 3/3",
        text.splitlines()[1],
        "seed_demo: posts 2/2",
        text.splitlines()[3],
    ]
    assert text.splitlines()[1].startswith("seed_demo: 3 users in ")
    assert text.endswith("\n")

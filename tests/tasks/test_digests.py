"""Weekly digest: Monday 08:00 user-local, previous Monday-Sunday local, once per ISO week."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.core import mail

from tasks import services
from tasks.jobs import send_weekly_digests_chunk
from tasks.models import Task, TaskDigestLedger
from tests.factories import UserFactory
from tests.tasks.factories import TaskFactory
from tests.tasks.helpers import local

pytestmark = pytest.mark.django_db

BERLIN = "Europe/Berlin"
MONDAY = date(2026, 6, 15)  # covers Monday 2026-06-08 .. Sunday 2026-06-14 = ISO 2026-W24


def _completed(owner, title: str, at: datetime) -> Task:
    return TaskFactory(owner=owner, title=title, status="completed", completed_at=at)


@pytest.fixture
def week(db):
    user = UserFactory(timezone=BERLIN, name="Ada")
    rows = {
        "first": _completed(user, "Done first minute", local(date(2026, 6, 8), time(0, 0), BERLIN)),
        "last": _completed(
            user, "Done last minute", local(date(2026, 6, 14), time(23, 59), BERLIN)
        ),
        "before": _completed(
            user, "Done week before", local(date(2026, 6, 7), time(23, 59), BERLIN)
        ),
        "after": _completed(user, "Done this Monday", local(MONDAY, time(0, 1), BERLIN)),
        "open": TaskFactory(
            owner=user, title="Still open", due_date=local(MONDAY, time(18), BERLIN)
        ),
        "late": TaskFactory(
            owner=user, title="Overdue thing", due_date=local(date(2026, 6, 10), time(9), BERLIN)
        ),
    }
    TaskFactory(owner=UserFactory(timezone=BERLIN), title="Someone else's")
    return user, rows


def test_digest_is_sent_monday_0800_local_with_last_weeks_content(week):
    user, _ = week
    UserFactory(timezone=BERLIN)  # owns no tasks: no digest
    services.digests_schedule_weekly(now=local(MONDAY, time(7, 59), BERLIN))
    services.digests_schedule_weekly(now=local(MONDAY - timedelta(days=1), time(8, 0), BERLIN))
    assert mail.outbox == []
    services.digests_schedule_weekly(now=local(MONDAY, time(8, 0), BERLIN))
    digest = next(m for m in mail.outbox if m.to == [user.email])
    assert len(mail.outbox) == 2  # Ada and the other task owner
    assert digest.subject == "Your tasks for the week of 2026-06-08"
    body = digest.body
    assert "2026-W24" in body and "8 June 2026" in body and "14 June 2026" in body
    assert "Completed this week: 2" in body
    assert "Done first minute" in body and "Done last minute" in body
    assert "Done week before" not in body and "Done this Monday" not in body
    assert "Still open: 2" in body and "Overdue: 1" in body
    assert "Overdue thing (was due 2026-06-10)" in body
    assert "Someone else's" not in body
    html, mimetype = digest.alternatives[0]
    assert mimetype == "text/html" and "<li>Done last minute</li>" in html
    assert TaskDigestLedger.objects.filter(user=user, iso_year=2026, iso_week=24).exists()


def test_digest_goes_out_at_most_once_per_iso_week(week):
    user, _ = week
    services.digests_schedule_weekly(now=local(MONDAY, time(8, 0), BERLIN))
    services.digests_schedule_weekly(now=local(MONDAY, time(8, 15), BERLIN))
    send_weekly_digests_chunk.delay([user.pk], "2026-06-08", None)  # duplicate delivery
    assert len([m for m in mail.outbox if m.to == [user.email]]) == 1
    assert TaskDigestLedger.objects.filter(user=user).count() == 1


def test_digest_week_across_dst_fall_back_in_new_york():
    zone = "America/New_York"
    user = UserFactory(timezone=zone)
    # Sunday 2026-11-01 is 25 hours long in New York; its last minute still belongs to the week.
    _completed(user, "Sunday night", local(date(2026, 11, 1), time(23, 30), zone))
    _completed(user, "Monday too early", local(date(2026, 11, 2), time(0, 30), zone))
    tick = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
    sent_ticks = []
    while tick < datetime(2026, 11, 3, 6, 0, tzinfo=UTC):
        before = len(mail.outbox)
        services.digests_schedule_weekly(now=tick)
        sent_ticks += [tick] * (len(mail.outbox) - before)
        tick += timedelta(minutes=15)
    assert len(sent_ticks) == 1
    assert sent_ticks[0] == datetime(2026, 11, 2, 13, 0, tzinfo=UTC)  # 08:00 EST
    body = mail.outbox[0].body
    assert "Sunday night" in body and "Monday too early" not in body
    assert "2026-W44" in body
